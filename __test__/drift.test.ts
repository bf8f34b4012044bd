// Drift detection through the public Gate: each detector fires, does not fire, and its
// boundaries; strict vs tolerant geo with real city coordinates; stateful sessions.

import { describe, expect, test } from 'vitest'

import { Gate, type EvaluateOptions, type GeoLocationInput, type Verdict } from '../index'

const PERMIT_ALL = { policies: [{ name: 'all', effect: 'permit' as const, conditions: [] }] }

/** 2027-01-15T08:00:00Z: a fixed "now" for gates built with a test clock. */
const T0_MS = 1_799_999_200_000
const T0 = T0_MS / 1000
const MIN = 60
const HOUR = 3600

const NEW_YORK: GeoLocationInput = { countryCode: 'US', city: 'New York', latitude: 40.7128, longitude: -74.006 }
const NEWARK: GeoLocationInput = { countryCode: 'US', city: 'Newark', latitude: 40.7357, longitude: -74.1724 }
const SINGAPORE: GeoLocationInput = { countryCode: 'SG', city: 'Singapore', latitude: 1.3521, longitude: 103.8198 }
const BANGALORE: GeoLocationInput = { countryCode: 'IN', city: 'Bangalore', latitude: 12.9716, longitude: 77.5946 }

const IP_A = '203.0.113.7'
const IP_B = '198.51.100.9'

let seq = 0
/** A context with a fresh principal (so nothing leaks between tests). */
function ctx(extra: Partial<EvaluateOptions> = {}): EvaluateOptions {
  seq += 1
  return { principalId: `drift-agent-${seq}`, principalKind: 'agent', actionName: 'issue_refund', ...extra }
}

function gate(options: Parameters<typeof Gate.fromObject>[1] = {}): Gate {
  return Gate.fromObject(PERMIT_ALL, { testClock: { nowMs: T0_MS }, ...options })
}

function expectPermit(v: Verdict): void {
  expect({ kind: v.kind, code: v.code, reason: v.reason }).toEqual({ kind: 'permit', code: undefined, reason: undefined })
}

function expectDriftInvalidate(v: Verdict, reasonPart: string | RegExp): string {
  expect(v.kind).toBe('invalidate')
  expect(v.isInvalidate).toBe(true)
  expect(v.evaluator).toBe('drift')
  expect(v.reason).toMatch(reasonPart)
  expect(v.scope?.evaluator).toBe('drift')
  expect(v.scope?.reason).toBe(v.reason)
  return v.reason ?? ''
}

/** Great-circle distance with the same formula and Earth radius the gate uses. */
function haversineKm(a: GeoLocationInput, b: GeoLocationInput): number {
  const rad = (d: number) => (d * Math.PI) / 180
  const [lat1, lon1, lat2, lon2] = [a.latitude!, a.longitude!, b.latitude!, b.longitude!]
  const h = Math.sin(rad(lat2 - lat1) / 2) ** 2 + Math.cos(rad(lat1)) * Math.cos(rad(lat2)) * Math.sin(rad(lon2 - lon1) / 2) ** 2
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(h)))
}

describe('geo drift, strict (default)', () => {
  test('an IP change is a violation naming both IPs and the new place', () => {
    const v = gate().evaluate(ctx({ sessionId: 'geo-strict-1', originIp: IP_A, ip: IP_B, currentGeo: SINGAPORE }))
    const reason = expectDriftInvalidate(v, `ip changed from '${IP_A}' to '${IP_B}'`)
    expect(reason).toContain("'SG', 'Singapore'")
    expect(v.scope).toEqual({ targetKind: 'session', targetId: 'geo-strict-1', reason, evaluator: 'drift' })
  })

  test('even a short hop (New York to Newark) is a violation without a threshold', () => {
    const v = gate().evaluate(
      ctx({ sessionId: 'geo-strict-2', originIp: IP_A, ip: IP_B, originGeo: NEW_YORK, currentGeo: NEWARK }),
    )
    expectDriftInvalidate(v, /ip changed/)
  })

  test('the same IP, or a missing IP on either side, does not fire', () => {
    const g = gate()
    expectPermit(g.evaluate(ctx({ originIp: IP_A, ip: IP_A, currentGeo: SINGAPORE })))
    expectPermit(g.evaluate(ctx({ ip: IP_B })))
    expectPermit(g.evaluate(ctx({ originIp: IP_A })))
    expectPermit(g.evaluate(ctx()))
  })
})

describe('geo drift, tolerant (geoDriftMaxKm)', () => {
  test('New York to Newark within 500 km is only a warning: permitted', () => {
    const v = gate({ geoDriftMaxKm: 500 }).evaluate(
      ctx({ sessionId: 'geo-tol-1', originIp: IP_A, ip: IP_B, originGeo: NEW_YORK, currentGeo: NEWARK }),
    )
    expectPermit(v)
  })

  test('New York to Singapore is a violation saying how far and the threshold', () => {
    const v = gate({ geoDriftMaxKm: 500 }).evaluate(
      ctx({ sessionId: 'geo-tol-2', originIp: IP_A, ip: IP_B, originGeo: NEW_YORK, currentGeo: SINGAPORE }),
    )
    const km = haversineKm(NEW_YORK, SINGAPORE)
    expect(km).toBeGreaterThan(15_000)
    expectDriftInvalidate(v, `moved ${km.toFixed(1)}km (> 500.0km threshold)`)
  })

  test('exactly at the threshold is a warning; a hair below the distance is a violation', () => {
    const km = haversineKm(NEW_YORK, NEWARK)
    const hop = { originIp: IP_A, ip: IP_B, originGeo: NEW_YORK, currentGeo: NEWARK }
    // Rounded up in the 9th decimal: JS and Rust agree far beyond that.
    expectPermit(gate({ geoDriftMaxKm: Math.ceil(km * 1e9) / 1e9 }).evaluate(ctx(hop)))
    const v = gate({ geoDriftMaxKm: Math.floor(km * 1e6) / 1e6 - 1e-6 }).evaluate(ctx({ sessionId: 'geo-tol-3', ...hop }))
    expectDriftInvalidate(v, /km threshold\)$/)
  })

  test('country-only geo with a threshold is a violation: the distance is unverifiable', () => {
    const v = gate({ geoDriftMaxKm: 500 }).evaluate(
      ctx({
        sessionId: 'geo-tol-4',
        originIp: IP_A,
        ip: IP_B,
        originGeo: { countryCode: 'US' },
        currentGeo: { countryCode: 'SG' },
      }),
    )
    expectDriftInvalidate(v, /unverifiable/)
  })

  test('no geo at all with a threshold is unverifiable too (fail closed)', () => {
    const v = gate({ geoDriftMaxKm: 500 }).evaluate(ctx({ sessionId: 'geo-tol-5', originIp: IP_A, ip: IP_B }))
    expectDriftInvalidate(v, /unverifiable/)
  })
})

describe('session age', () => {
  test('older than 4 h is a violation; exactly 4 h is not', () => {
    const g = gate()
    expectPermit(g.evaluate(ctx({ sessionStartedAt: T0 - 4 * HOUR })))
    const v = g.evaluate(ctx({ sessionId: 'age-1', sessionStartedAt: T0 - 4 * HOUR - 1 }))
    expectDriftInvalidate(v, 'session age 4h0m1s exceeds the 4h maximum')
  })

  test('a young session does not fire', () => {
    expectPermit(gate().evaluate(ctx({ sessionStartedAt: T0 - 10 * MIN })))
  })

  test('a session learned by the gate ages with the clock', () => {
    const g = gate()
    const base = ctx({ sessionId: 'age-stateful', ip: IP_A })
    // Step in 48-minute hops (the session store forgets sessions idle for an hour).
    for (let minutes = 0; minutes <= 240; minutes += 48) {
      g.setTestNow(T0_MS + minutes * MIN * 1000)
      expectPermit(g.evaluate(base))
    }
    g.setTestNow(T0_MS + (4 * HOUR + 1) * 1000)
    expectDriftInvalidate(g.evaluate(base), /session age 4h0m1s/)
  })
})

describe('device drift', () => {
  test('a different fingerprint is a violation', () => {
    const v = gate().evaluate(
      ctx({
        sessionId: 'dev-1',
        originDevice: { hash: 'a1b2c3', description: 'Chrome on macOS' },
        device: { hash: 'ffee99' },
      }),
    )
    expectDriftInvalidate(v, "device changed from 'a1b2c3' (Chrome on macOS) to 'ffee99'")
  })

  test('the same fingerprint, or an unknown side, does not fire', () => {
    const g = gate()
    expectPermit(g.evaluate(ctx({ originDevice: { hash: 'a1b2c3' }, device: { hash: 'a1b2c3', description: 'new UA' } })))
    expectPermit(g.evaluate(ctx({ device: { hash: 'a1b2c3' } })))
    expectPermit(g.evaluate(ctx({ originDevice: { hash: 'a1b2c3' } })))
  })

  test('a session learns its device on first sight', () => {
    const g = gate()
    const base = ctx({ sessionId: 'dev-stateful' })
    expectPermit(g.evaluate({ ...base, device: { hash: 'laptop-1' } }))
    expectPermit(g.evaluate({ ...base, device: { hash: 'laptop-1' } }))
    expectDriftInvalidate(g.evaluate({ ...base, device: { hash: 'phone-9' } }), /device changed from 'laptop-1' to 'phone-9'/)
  })
})

describe('behaviour (actions per minute of session age)', () => {
  test('above 100/min is a violation', () => {
    const v = gate().evaluate(ctx({ sessionId: 'rate-1', sessionStartedAt: T0 - 2 * MIN, actionCount: 201 }))
    expectDriftInvalidate(v, 'action rate 100.5/min (201 actions in 2.0 min) exceeds 100/min')
  })

  test('exactly 100/min is only a warning, exactly 30/min nothing: both permitted', () => {
    const g = gate()
    expectPermit(g.evaluate(ctx({ sessionStartedAt: T0 - 2 * MIN, actionCount: 200 })))
    expectPermit(g.evaluate(ctx({ sessionStartedAt: T0 - 2 * MIN, actionCount: 60 })))
  })

  test('age below one minute counts as one minute', () => {
    const g = gate()
    expectPermit(g.evaluate(ctx({ sessionStartedAt: T0 - 5, actionCount: 100 })))
    expectDriftInvalidate(g.evaluate(ctx({ sessionStartedAt: T0 - 5, actionCount: 101 })), /rate 101\.0\/min/)
  })
})

describe('warnings add up', () => {
  test('three warnings at once refuse with DRIFT_DETECTED; two pass', () => {
    const g = gate({ geoDriftMaxKm: 500 })
    const hop = { originIp: IP_A, ip: IP_B, originGeo: NEW_YORK, currentGeo: NEWARK }
    const started = T0 - 3 * HOUR - 30 * MIN // 3h30m: past 75 % of 4 h
    const v = g.evaluate(ctx({ ...hop, sessionStartedAt: started, actionCount: 7000 })) // 33.3/min
    expect(v.kind).toBe('refuse')
    expect(v.code).toBe('DRIFT_DETECTED')
    expect(v.evaluator).toBe('drift')
    expect(v.reason).toMatch(/^3 drift warnings: ip changed .*moved 14\.\dkm \(within 500\.0km threshold\); session age 3h30m is past 75% of the 4h maximum; action rate 33\.3\/min/)
    expectPermit(g.evaluate(ctx({ ...hop, sessionStartedAt: started, actionCount: 10 })))
  })
})

describe('the hijacked support session (Bangalore to Singapore, new device, 150/min)', () => {
  test('is invalidated on geo first, and stays refused even from the original IP', () => {
    const g = gate({ geoDriftMaxKm: 500 })
    const principal = ctx({ sessionId: 'support-hijack' })
    const home = { ip: IP_A, currentGeo: BANGALORE, device: { hash: 'agent-laptop' } }
    expectPermit(g.evaluate({ ...principal, ...home }))
    g.setTestNow(T0_MS + 10 * MIN * 1000)
    const v = g.evaluate({
      ...principal,
      ip: IP_B,
      currentGeo: SINGAPORE,
      device: { hash: 'unknown-box' },
      actionCount: 1500,
    })
    expectDriftInvalidate(v, /moved 3\d{3}\.\dkm \(> 500\.0km threshold\)/)
    const again = g.evaluate({ ...principal, ...home })
    expect(again.code).toBe('SESSION_INVALID')
  })
})

describe('stateful sessions', () => {
  test('first call learns the origin, another IP invalidates, the original IP stays refused', () => {
    const g = gate()
    const base = ctx({ sessionId: 'stateful-1' })
    const first = g.evaluate({ ...base, ip: IP_A })
    expectPermit(first)
    const second = g.evaluate({ ...base, ip: IP_B, currentGeo: SINGAPORE })
    expectDriftInvalidate(second, `ip changed from '${IP_A}' to '${IP_B}'`)
    expect(second.scope).toMatchObject({ targetKind: 'session', targetId: 'stateful-1' })
    const third = g.evaluate({ ...base, ip: IP_A })
    expect(third.kind).toBe('refuse')
    expect(third.code).toBe('SESSION_INVALID')
    expect(third.evaluator).toBe('gate')
    expect(third.reason).toContain("session 'stateful-1'")
    expect(third.reason).toContain(`ip changed from '${IP_A}' to '${IP_B}'`)
    // Another session of the same principal is unaffected.
    expectPermit(g.evaluate({ ...base, sessionId: 'stateful-1b', ip: IP_B }))
  })

  test('explicit origin fields override what the session learned', () => {
    const g = gate()
    const base = ctx({ sessionId: 'stateful-2' })
    expectPermit(g.evaluate({ ...base, ip: IP_A }))
    // The caller vouches that the session started on IP_B: no drift.
    expectPermit(g.evaluate({ ...base, ip: IP_B, originIp: IP_B }))
  })
})

describe('enableDrift: false', () => {
  test('removes the evaluator: nothing above fires', () => {
    const g = gate({ enableDrift: false })
    expect(g.evaluatorCount).toBe(1)
    expectPermit(
      g.evaluate(
        ctx({
          sessionId: 'nodrift',
          originIp: IP_A,
          ip: IP_B,
          sessionStartedAt: T0 - 10 * HOUR,
          originDevice: { hash: 'a' },
          device: { hash: 'b' },
          actionCount: 1_000_000,
        }),
      ),
    )
    expect(gate().evaluatorCount).toBe(2)
  })
})
