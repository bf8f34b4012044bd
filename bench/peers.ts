// kavach's `gate.evaluate` against the authorization libraries a user would pick instead, on
// the same policy set at 10, 100, 1,000 and 10,000 policies: @cedar-policy/cedar-wasm (a
// preparsed policy set, and the policy text parsed on every call), and casbin (`enforceSync`).
// Then the awaited forms, one caller awaiting each decision: kavach's `evaluateAsync` against
// casbin's `enforce`, the promise-returning call casbin documents.
// Policy i permits an agent with role `support` to call `tool_i` with `amount` ≤ 1000; the
// timed request is the last policy's action (the worst case for a scan). Before timing, every
// library must permit that request and refuse the same one with amount 5000; then they are
// timed alternating in rounds in this process (bench/rounds.ts).
//
// @open-policy-agent/opa-wasm evaluates Rego compiled to wasm by the `opa` CLI, which no npm
// package ships (BENCHMARKS.md says more), so it is not measured here.
//
// Runs from `npm run bench -- peers`; KAVACH_BENCH_MS sets the time per contender and size,
// KAVACH_BENCH_POLICIES (comma-separated) the sizes.

import * as cedar from '@cedar-policy/cedar-wasm/nodejs'
import { newEnforcer, newModelFromString, StringAdapter, type Enforcer } from 'casbin'

import { Gate, type EvaluateOptions, type PolicySetInput } from './kavach'
import { machine, versions, type Comparison, type SuiteResult } from './results'
import { newPool, timeAwaited, timeSync, toRow, type Pool } from './rounds'

const CELL_MS = Number(process.env.KAVACH_BENCH_MS ?? 2_000)
const ROUNDS = 4
const SIZES = (process.env.KAVACH_BENCH_POLICIES ?? '10,100,1000,10000').split(',').map(Number)

const PRINCIPAL = 'agent-bot'
export const ROLE = 'support'
const MAX_AMOUNT = 1000
const PERMIT_AMOUNT = 500
const REFUSE_AMOUNT = 5000

/** One library's way of deciding the bench request, true for permit: synchronously, or awaited. */
type Contender =
  | { library: string; decide: (amount: number) => boolean }
  | { library: string; decideAwaited: (amount: number) => Promise<boolean> }

/** The contender's decision on a request with `amount`, awaited if it is asynchronous. */
async function decision(c: Contender, amount: number): Promise<boolean> {
  return 'decide' in c ? c.decide(amount) : c.decideAwaited(amount)
}

/** kavach's form of the set (also timed alone by bench/evaluate.ts). */
export function kavachPolicies(n: number): PolicySetInput {
  return {
    policies: Array.from({ length: n }, (_, i) => ({
      name: `policy_${i}`,
      effect: 'permit' as const,
      conditions: [
        { identity_kind: 'agent' as const },
        { identity_role: ROLE },
        { action: `tool_${i}` },
        { param_max: { field: 'amount', max: MAX_AMOUNT } },
      ],
    })),
  }
}

/** kavach's `evaluate`, and its `evaluateAsync` awaited, on one gate. */
function kavach(n: number): { sync: Contender; awaited: Contender; gate: Gate } {
  const gate = Gate.fromObject(kavachPolicies(n), { enableDrift: false })
  const contexts = new Map<number, EvaluateOptions>(
    [PERMIT_AMOUNT, REFUSE_AMOUNT].map((amount) => [amount, { principalId: PRINCIPAL, principalKind: 'agent', roles: [ROLE], actionName: `tool_${n - 1}`, params: { amount } }]),
  )
  return {
    gate,
    sync: { library: 'kavach evaluate', decide: (amount) => gate.evaluate(contexts.get(amount)!).isPermit },
    awaited: { library: 'kavach evaluateAsync (awaited)', decideAwaited: async (amount) => (await gate.evaluateAsync(contexts.get(amount)!)).isPermit },
  }
}

/** The same policies in Cedar: kind and roles are attributes of the principal entity, amount is in the context. */
function cedarText(n: number): string {
  return Array.from(
    { length: n },
    (_, i) => `permit(principal, action == Action::"tool_${i}", resource) when { principal.kind == "agent" && principal.roles.contains("${ROLE}") && context.amount <= ${MAX_AMOUNT} };`,
  ).join('\n')
}

function cedarRequest(n: number, amount: number): Omit<cedar.AuthorizationCall, 'policies'> {
  return {
    principal: { type: 'User', id: PRINCIPAL },
    action: { type: 'Action', id: `tool_${n - 1}` },
    resource: { type: 'Tool', id: 'any' },
    context: { amount },
    entities: [{ uid: { type: 'User', id: PRINCIPAL }, attrs: { kind: 'agent', roles: [ROLE] }, parents: [] }],
  }
}

function cedarAllows(answer: cedar.AuthorizationAnswer): boolean {
  if (answer.type !== 'success') throw new Error(`cedar failed: ${JSON.stringify(answer.errors)}`)
  return answer.response.decision === 'allow'
}

function cedarContenders(n: number): Contender[] {
  const text = cedarText(n)
  const id = `peers-${n}`
  const parsed = cedar.preparsePolicySet(id, { staticPolicies: text })
  if (parsed.type !== 'success') throw new Error(`cedar could not parse the policy set: ${JSON.stringify(parsed.errors)}`)
  const requests = new Map([PERMIT_AMOUNT, REFUSE_AMOUNT].map((amount) => [amount, cedarRequest(n, amount)]))
  return [
    {
      library: '@cedar-policy/cedar-wasm (preparsed)',
      decide: (amount) => cedarAllows(cedar.statefulIsAuthorized({ ...requests.get(amount)!, preparsedPolicySetId: id })),
    },
    {
      library: '@cedar-policy/cedar-wasm (parse per call)',
      decide: (amount) => cedarAllows(cedar.isAuthorized({ ...requests.get(amount)!, policies: { staticPolicies: text } })),
    },
  ]
}

/** The same policies in casbin: roles through the role manager (`g`), kind, action and the amount bound in the matcher. */
const CASBIN_MODEL = `
[request_definition]
r = sub, kind, act, amount

[policy_definition]
p = kind, role, act, max

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.kind == p.kind && r.act == p.act && g(r.sub, p.role) && r.amount <= p.max
`

/** casbin's `enforceSync`, and its `enforce` awaited, on one enforcer. */
async function casbinContenders(n: number): Promise<{ sync: Contender; awaited: Contender }> {
  // Loaded as a policy CSV, as from a policy file, not with `addPolicies`: that checks each rule
  // against every rule already there (`Array.prototype.some`), and on Node 20 that path at
  // 1,000 rules, in a process that also calls cedar-wasm, can abort in V8's deoptimizer
  // ("unreachable code" in DoComputeBuiltinContinuation).
  const csv = [...Array.from({ length: n }, (_, i) => `p, agent, ${ROLE}, tool_${i}, ${MAX_AMOUNT}`), `g, ${PRINCIPAL}, ${ROLE}`].join('\n')
  const enforcer: Enforcer = await newEnforcer(newModelFromString(CASBIN_MODEL), new StringAdapter(csv))
  return {
    sync: { library: 'casbin enforceSync', decide: (amount) => enforcer.enforceSync(PRINCIPAL, 'agent', `tool_${n - 1}`, amount) },
    awaited: { library: 'casbin enforce (awaited)', decideAwaited: (amount) => enforcer.enforce(PRINCIPAL, 'agent', `tool_${n - 1}`, amount) },
  }
}

/** Every contender must permit the permit request and refuse the refuse request, or the timing means nothing. */
async function assertSameDecisions(n: number, contenders: Contender[]): Promise<void> {
  for (const c of contenders) {
    const permit = await decision(c, PERMIT_AMOUNT)
    const refuse = await decision(c, REFUSE_AMOUNT)
    if (permit !== true || refuse !== false) {
      throw new Error(`${c.library} at ${n} policies decided permit=${permit} (want true) and refuse=${refuse} (want false)`)
    }
  }
}

/** Times `c` for `ms` into `pool`: back to back if synchronous, each call awaited if not. */
async function timeContender(c: Contender, pool: Pool, ms: number): Promise<void> {
  const refused = (): never => {
    throw new Error(`${c.library} refused during the bench`)
  }
  if ('decide' in c) {
    timeSync(pool, ms, () => {
      if (!c.decide(PERMIT_AMOUNT)) refused()
    })
  } else {
    await timeAwaited(pool, ms, async () => {
      if (!(await c.decideAwaited(PERMIT_AMOUNT))) refused()
    })
  }
}

/**
 * Two comparisons at `n` policies, timed together in alternating rounds: the synchronous calls
 * (kavach's `evaluate` first, the base of their ratios) and the awaited ones (kavach's
 * `evaluateAsync` first).
 */
async function compareAt(n: number): Promise<Comparison[]> {
  const k = kavach(n)
  const casbin = await casbinContenders(n)
  const groups = [
    { label: `${n.toLocaleString('en-US')} policies`, contenders: [k.sync, ...cedarContenders(n), casbin.sync] },
    { label: `${n.toLocaleString('en-US')} policies, awaited`, contenders: [k.awaited, casbin.awaited] },
  ]
  const contenders = groups.flatMap((g) => g.contenders)
  await assertSameDecisions(n, contenders)
  const pools = new Map(contenders.map((c) => [c, newPool()]))
  for (const c of contenders) await timeContender(c, newPool(), 200)
  for (let r = 0; r < ROUNDS; r++) for (const c of contenders) await timeContender(c, pools.get(c)!, CELL_MS / ROUNDS)
  await k.gate.close()
  return groups.map((g) => ({
    label: g.label,
    policies: n,
    rows: g.contenders.map((c) => ({ ...toRow(`${g.label}: ${c.library}`, pools.get(c)!), library: c.library })),
  }))
}

export async function runSuite(): Promise<SuiteResult> {
  const comparisons: Comparison[] = []
  for (const n of SIZES) {
    console.error(`  peers: ${n} policies ...`)
    comparisons.push(...(await compareAt(n)))
  }
  return {
    suite: 'peers',
    title: 'Policy engines: kavach vs Cedar (wasm) and casbin',
    recordedAt: new Date().toISOString(),
    machine: machine(),
    libraries: { ...versions(['kavach-sdk', '@cedar-policy/cedar-wasm', 'casbin']), 'cedar (engine)': cedar.getCedarVersion() },
    method:
      `Policy i permits an agent with role "${ROLE}" calling tool_i with amount ≤ ${MAX_AMOUNT} (kavach: identity_kind, identity_role, action, param_max; ` +
      'Cedar: action == Action::"tool_i" with principal.kind, principal.roles.contains and context.amount in `when`, the principal entity passed with each request; ' +
      'casbin: a matcher on kind, action, amount and g(sub, role)). The timed request calls the last policy\'s action with amount 500 (permit). ' +
      'Before timing, every library must permit it and refuse the same request with amount 5000. ' +
      `Each library is then called back to back for ${CELL_MS / ROUNDS} ms per round, the libraries alternating, ${ROUNDS} rounds each, after a 200 ms warm-up: ` +
      'synchronously (kavach `evaluate`, Cedar, casbin `enforceSync`), and in the "awaited" comparison each call awaited before the next (kavach `evaluateAsync`, casbin `enforce`, the promise-returning call casbin documents; Cedar has none). ' +
      'p50/p99 are of single calls (the first half of each round); ops/s is of calls timed in batches of about 2 ms (the second half), so no clock read per call counts against the faster library; the ratio is kavach ops/s over the peer\'s, within each comparison.',
    chart: 'policies',
    comparisons,
  }
}
