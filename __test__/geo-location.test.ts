// `new GeoLocation(countryCode, options)` refuses what a plain geo record (`currentGeo: {...}`)
// refuses: an unknown key, with the same error, code and wording. It also refuses half a
// coordinate pair, which the gate would read as no coordinates at all.
import { describe, expect, test } from 'vitest'

import { ActionContext, Gate, GeoLocation, InvalidArgumentError, InvalidContextError } from '../index'
import { caught } from './fixtures/outcomes'

const CONTEXT = { principalId: 'a', principalKind: 'agent', actionName: 'x' } as const

describe('GeoLocation options', () => {
  test('an unknown key is INVALID_CONTEXT, worded as for a plain currentGeo, with a did-you-mean', () => {
    const ctor = caught(() => new GeoLocation('IN', { lat: 28.6, lng: 77.2 } as never))
    expect(ctor).toBeInstanceOf(InvalidContextError)
    expect(ctor.code).toBe('INVALID_CONTEXT')
    expect(ctor.message).toBe("GeoLocation: unknown key 'lat' (expected one of region, city, latitude, longitude); did you mean 'latitude'?")

    const gate = Gate.fromObject({ policies: [{ name: 'all', effect: 'permit', conditions: [] }] })
    const plain = caught(() => gate.evaluate({ ...CONTEXT, currentGeo: { countryCode: 'IN', lat: 28.6, lng: 77.2 } as never }))
    expect(plain).toBeInstanceOf(InvalidContextError)
    expect(plain.message).toBe("currentGeo: unknown key 'lat' (expected one of countryCode, region, city, latitude, longitude); did you mean 'latitude'?")

    // The country code is the first argument, never an option.
    expect(caught(() => new GeoLocation('IN', { countryCode: 'US' } as never)).message).toBe(
      "GeoLocation: unknown key 'countryCode' (expected one of region, city, latitude, longitude)",
    )
  })

  test('the known keys still build the place the gate reads', () => {
    const g = new GeoLocation('IN', { region: 'DL', city: 'Delhi', latitude: 28.6, longitude: 77.2 })
    expect(g.toInput()).toEqual({ countryCode: 'IN', region: 'DL', city: 'Delhi', latitude: 28.6, longitude: 77.2 })
    expect(new GeoLocation('IN').toInput()).toEqual({ countryCode: 'IN' })
  })

  test('a latitude without a longitude, or the reverse, is INVALID_ARGUMENT naming the missing one', async () => {
    const lat = caught(() => new GeoLocation('IN', { latitude: 28.6 }))
    expect(lat).toBeInstanceOf(InvalidArgumentError)
    expect(lat.code).toBe('INVALID_ARGUMENT')
    expect(lat.message).toBe('GeoLocation.longitude is missing: GeoLocation.latitude is given, and coordinates are a pair (latitude and longitude, or neither)')
    expect(caught(() => new GeoLocation('IN', { longitude: 77.2 })).message).toBe(
      'GeoLocation.latitude is missing: GeoLocation.longitude is given, and coordinates are a pair (latitude and longitude, or neither)',
    )
    // A record given to ActionContext is built through the constructor: named by its field.
    expect(caught(() => new ActionContext({ ...CONTEXT, originGeo: { countryCode: 'IN', longitude: 77.2 } })).message).toBe(
      'originGeo.latitude is missing: originGeo.longitude is given, and coordinates are a pair (latitude and longitude, or neither)',
    )
    // A plain record passed to evaluate, on every path, is refused with the same words.
    const gate = Gate.fromObject({ policies: [{ name: 'all', effect: 'permit', conditions: [] }] }, { geoDriftMaxKm: 500 })
    const half = { ...CONTEXT, currentGeo: { countryCode: 'IN', latitude: 28.6 } }
    const want = 'currentGeo.longitude is missing: currentGeo.latitude is given, and coordinates are a pair (latitude and longitude, or neither)'
    for (const err of [caught(() => gate.evaluate(half)), caught(() => gate.explain(half))]) {
      expect(err).toBeInstanceOf(InvalidArgumentError)
      expect(err.message).toBe(want)
    }
    expect((await gate.evaluateAsync(half).catch((e: Error) => e) as Error).message).toBe(want)
    // A coordinate out of range is named as such first.
    expect(caught(() => new GeoLocation('IN', { latitude: 91 })).message).toBe('GeoLocation.latitude must be a number between -90 and 90, got 91')
  })
})
