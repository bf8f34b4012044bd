// Compile-time checks of definePolicies(), run by `tsc --noEmit` (tsconfig includes __test__):
// each `@ts-expect-error` fails the type check if the line below it ever compiles.
import { definePolicies } from '../src/define-policies'

export const ok = definePolicies({
  policies: [
    { name: 'small-refunds', effect: 'permit', conditions: [{ action: 'refund' }, { param_max: { field: 'amount', max: 100 } }] },
    { name: 'night', effect: 'refuse', priority: 1, conditions: [{ time_window: '22:00-06:00 Asia/Kolkata' }] },
  ],
})

// @ts-expect-error: effect must be 'permit' or 'refuse'
definePolicies({ policies: [{ name: 'a', effect: 'allow', conditions: [] }] })
// @ts-expect-error: a misspelt key
definePolicies({ policies: [{ name: 'a', effect: 'permit', conditions: [], priorty: 1 }] })
// @ts-expect-error: param_max.max is a number
definePolicies({ policies: [{ name: 'a', effect: 'permit', conditions: [{ param_max: { field: 'amount', max: '100' } }] }] })
// @ts-expect-error: unknown condition
definePolicies({ policies: [{ name: 'a', effect: 'permit', conditions: [{ actions: 'refund' }] }] })
// @ts-expect-error: conditions is required
definePolicies({ policies: [{ name: 'a', effect: 'permit' }] })
// @ts-expect-error: not a policy set
definePolicies({ rules: [] })
