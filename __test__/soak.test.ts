// The short variant of `npm run soak` (bench/soak.ts): a few seconds of the same mixed traffic
// in a child process, which must finish without errors or unsettled promises and exit by
// itself (a leaked handle would keep it running until the kill below). RSS growth is judged
// by the full soak only.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

import { expect, test } from 'vitest'

const root = join(__dirname, '..')
const tsxLoader = pathToFileURL(createRequire(join(root, 'package.json')).resolve('tsx')).href

test('a short soak: mixed traffic, no errors, every promise settles, the process exits by itself', async () => {
  const { code, signal, stdout, stderr } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
    (done, fail) => {
      const child = spawn(process.execPath, ['--import', tsxLoader, join(root, 'bench/soak.ts'), '--seconds', '3', '--sample-ms', '500', '--no-rss-check'], { cwd: root })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d) => (stdout += d))
      child.stderr.on('data', (d) => (stderr += d))
      const killer = setTimeout(() => child.kill('SIGKILL'), 50_000)
      child.on('error', fail)
      child.on('exit', (code, signal) => {
        clearTimeout(killer)
        done({ code, signal, stdout, stderr })
      })
    },
  )
  expect(signal, stderr).toBeNull()
  expect(code, stderr).toBe(0)
  const summary = JSON.parse(stdout) as Record<string, unknown>
  expect(summary).toMatchObject({ errors: 0, firstErrors: [], unsettled: 0, ok: true })
  for (const counter of ['rounds', 'evaluations', 'signedPermits', 'auditAppends', 'gatesCreatedAndClosed', 'listenersCreatedAndAborted']) {
    expect(summary[counter], counter).toBeGreaterThan(0)
  }
  expect((summary.samplesMiB as number[]).length).toBeGreaterThanOrEqual(2)
}, 60_000)
