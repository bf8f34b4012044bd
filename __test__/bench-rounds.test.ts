// bench/rounds.ts's `timeAwaited`, which times the awaited rows of `npm run bench -- peers`
// (kavach's evaluateAsync, casbin's enforce): each call must finish before the next starts, as
// for one caller awaiting each decision, and every call must be counted once, in the samples or
// in a batch.

import { describe, expect, it } from 'vitest'

import { newPool, timeAwaited, toRow } from '../bench/rounds'

describe('timeAwaited', () => {
  it('awaits each call before starting the next and counts every call', async () => {
    let inFlight = 0
    let most = 0
    let calls = 0
    const op = async (): Promise<void> => {
      inFlight++
      calls++
      most = Math.max(most, inFlight)
      // Settles a few ticks later, so an overlapping caller would be seen in flight.
      await new Promise<void>((resolve) => setImmediate(resolve))
      inFlight--
    }
    const pool = newPool()
    await timeAwaited(pool, 60, op)
    expect(most).toBe(1)
    expect(inFlight).toBe(0)
    expect(pool.samples.length).toBeGreaterThan(0)
    expect(pool.batchCalls).toBeGreaterThan(0)
    expect(pool.samples.length + pool.batchCalls).toBe(calls)
    const row = toRow('awaited', pool)
    expect(row.opsPerSec).toBeCloseTo(pool.batchCalls / pool.batchSeconds)
  })

  it('rejects with the error of a call that throws, and starts no call after it', async () => {
    let calls = 0
    const op = async (): Promise<void> => {
      calls++
      await Promise.resolve()
      if (calls === 3) throw new Error('refused during the bench')
    }
    await expect(timeAwaited(newPool(), 1_000, op)).rejects.toThrow('refused during the bench')
    expect(calls).toBe(3)
  })
})
