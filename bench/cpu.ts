// CPU time per operation, next to latency: where a round trip's time goes. At concurrency 1 a
// call's latency is mostly the JS thread's CPU time plus the Redis server's (loopback adds
// little but the wake-ups), so these two columns tell a client-side difference from a
// server-side one, and they are steadier than latency on a noisy machine.
//
// Read from /proc/<pid>/task/<tid>/schedstat (Linux: nanoseconds a thread spent on a CPU).
// Anything that cannot be read (another OS, a Redis on another host) gives `undefined`, and the
// column stays empty.

import { readFileSync } from 'node:fs'

/** On-CPU nanoseconds of one thread so far, or undefined where the kernel does not say. */
export type CpuClock = () => number | undefined

/** The CPU clock of thread `tid` of process `pid` (its main thread by default). */
export function threadCpu(pid: number, tid = pid): CpuClock {
  const path = `/proc/${pid}/task/${tid}/schedstat`
  return () => {
    try {
      const ns = Number(readFileSync(path, 'utf8').split(' ')[0])
      return Number.isFinite(ns) ? ns : undefined
    } catch {
      return undefined
    }
  }
}

/** This process's JS thread (the main thread: its thread id is the process id). */
export const jsThreadCpu: CpuClock = threadCpu(process.pid)

/** CPU time of named clocks over the rounds of one contender; a clock that failed once stays undefined. */
export class CpuTally {
  readonly #clocks: Array<[name: string, clock: CpuClock]>
  readonly #ns = new Map<string, number | undefined>()

  constructor(clocks: Record<string, CpuClock>) {
    this.#clocks = Object.entries(clocks)
    for (const [name] of this.#clocks) this.#ns.set(name, 0)
  }

  /** Runs `round` and adds each clock's CPU time over it. */
  async around(round: () => Promise<void>): Promise<void> {
    const before = this.#clocks.map(([, clock]) => clock())
    await round()
    this.#clocks.forEach(([name, clock], i) => {
      const start = before[i]
      const end = clock()
      const sum = this.#ns.get(name)
      this.#ns.set(name, start === undefined || end === undefined || sum === undefined ? undefined : sum + (end - start))
    })
  }

  /** Microseconds of CPU per operation, by clock name, over `ops` operations. */
  perOpUs(ops: number): Record<string, number | undefined> {
    const out: Record<string, number | undefined> = {}
    for (const [name, ns] of this.#ns) out[name] = ns === undefined || ops === 0 ? undefined : ns / ops / 1000
    return out
  }
}
