// Section names of a 64-bit little-endian ELF file (the linux .node), read from its section
// header table: enough to tell whether the symbol table (`.symtab`) was stripped.
import { readFileSync } from 'node:fs'

export function elfSectionNames(path) {
  const elf = readFileSync(path)
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) {
    throw new Error(`${path} is not a 64-bit little-endian ELF file`)
  }
  const headerOffset = Number(elf.readBigUInt64LE(0x28))
  const headerSize = elf.readUInt16LE(0x3a)
  const count = elf.readUInt16LE(0x3c)
  const namesIndex = elf.readUInt16LE(0x3e)
  const header = (i) => headerOffset + i * headerSize
  const namesOffset = Number(elf.readBigUInt64LE(header(namesIndex) + 0x18))
  const names = []
  for (let i = 0; i < count; i++) {
    const start = namesOffset + elf.readUInt32LE(header(i))
    names.push(elf.toString('latin1', start, elf.indexOf(0, start)))
  }
  return names
}
