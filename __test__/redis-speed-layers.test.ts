// The speed layers of the Redis evaluateAsync path can be switched off one at a time
// (`setSpeedLayersOff`, or `KAVACH_SPEED_LAYERS_OFF` for a whole process; the ablation bench
// in bench/redis.ts uses them). Each layer only changes how fast a verdict arrives, never
// which: with any one of them off, limits stay exact and every verdict arrives.

import { afterAll, describe, expect, test } from 'vitest'

import { eventLoopRuntimeActive, setSpeedLayersOff } from '../binding.js'
import { Gate, RedisRateLimitStore, type Verdict } from '../index'
import { REDIS_URL, prefixesCleanedAfterAll } from './fixtures/redis-helpers'

const prefix = prefixesCleanedAfterAll()

const LAYERS = ['coalesce', 'direct', 'event-loop', 'socket-watch', 'local-tasks', 'direct-deliver', 'utf16-batch', 'interned-names']

const CALL = { principalId: 'agent-layers', principalKind: 'agent' as const, actionName: 'call_tool' }

afterAll(() => setSpeedLayersOff([]))

describe('speed layers switched off one at a time', () => {
  test('an unknown layer name is refused, naming it', () => {
    expect(() => setSpeedLayersOff(['coalesce', 'warp-drive'])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining("'warp-drive'") }))
  })

  test('without the event-loop layer evaluateAsync runs on the thread pool', () => {
    setSpeedLayersOff(['event-loop'])
    expect(eventLoopRuntimeActive()).toBe(false)
    setSpeedLayersOff([])
    expect(eventLoopRuntimeActive()).toBe(process.platform === 'linux')
  })

  test.each(LAYERS)('without %s: 8 chains of 60 evaluations, exactly the limit permits', async (layer) => {
    setSpeedLayersOff([layer])
    try {
      const store = await RedisRateLimitStore.connect(REDIS_URL, { prefix: prefix(`layers-${layer}`) })
      const gate = Gate.fromObject(
        { policies: [{ name: 'tools', effect: 'permit', conditions: [{ action: 'call_tool' }, { rate_limit: { max: 200, window: '1h' } }] }] },
        { rateStore: store, enableDrift: false },
      )
      const verdicts: Verdict[] = []
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let i = 0; i < 60; i++) verdicts.push(await gate.evaluateAsync(CALL))
        }),
      )
      expect(verdicts.filter((v) => v.isPermit)).toHaveLength(200)
      expect(verdicts.filter((v) => v.code === 'RATE_LIMIT_EXCEEDED')).toHaveLength(280)
      await gate.close()
      store.close()
    } finally {
      setSpeedLayersOff([])
    }
  })
})
