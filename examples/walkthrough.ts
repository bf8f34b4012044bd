// What `npm start` runs: a tour of kavach-sdk with an embedded policy and no Redis.
// Each step prints what the gate answered and why.

import { Gate, InvalidArgumentError, PolicyParseError, PqTokenSigner, Refused, guarded, runAs, type EvaluateOptions, type Verdict } from '../index'

const POLICY = {
  policies: [
    {
      name: 'agent_small_refunds',
      description: 'support agents may refund up to 1,000, at most 3 times a day',
      effect: 'permit' as const,
      conditions: [
        { identity_kind: 'agent' as const },
        { identity_role: 'support' },
        { action: 'issue_refund' },
        { param_max: { field: 'amount', max: 1000 } },
        { rate_limit: { max: 3, window: '24h' } },
      ],
    },
    { name: 'reports_for_staff', effect: 'permit' as const, conditions: [{ identity_kind: 'user' as const }, { action: 'report.*' }] },
    { name: 'never_delete_customers', effect: 'refuse' as const, priority: 10, conditions: [{ action: 'customer.delete' }] },
  ],
}

const show = (label: string, v: Verdict): void => {
  const detail = v.isPermit ? `token ${v.tokenId} (expires ${new Date(v.permitToken!.expiresAt * 1000).toISOString()})` : `[${v.code}] ${v.evaluator}: ${v.reason}`
  console.log(`  ${label.padEnd(44)} ${v.kind.toUpperCase().padEnd(8)} ${detail}`)
}

const bot: Omit<EvaluateOptions, 'actionName'> = { principalId: 'agent-bot', principalKind: 'agent', roles: ['support'], sessionId: 'sess-1' }

console.log('\n1. A gate from a plain object, with a hard invariant no policy can override')
const gate = Gate.fromObject(POLICY, { invariants: [{ name: 'hard_cap', field: 'amount', maxValue: 50_000 }], maxSessionActions: 100 })
console.log(`  evaluators: ${gate.evaluatorCount} (policy, drift, invariants)`)

console.log('\n2. Permit and the refuse codes')
show('refund 500 (within policy)', gate.evaluate({ ...bot, actionName: 'issue_refund', params: { amount: 500 } }))
show('refund 5,000 (over param_max)', gate.evaluate({ ...bot, actionName: 'issue_refund', params: { amount: 5000 } }))
show('delete a customer (explicit refuse)', gate.evaluate({ principalId: 'alice', principalKind: 'user', actionName: 'customer.delete' }))
show('report.monthly by a user', gate.evaluate({ principalId: 'alice', principalKind: 'user', actionName: 'report.monthly' }))

console.log('\n3. Invariants run after policy')
const permissive = Gate.fromObject({ policies: [{ name: 'anything', effect: 'permit', conditions: [] }] }, { invariants: [['hard_cap', 'amount', 50_000]] })
show('refund 60,000 on a permit-all gate', permissive.evaluate({ ...bot, actionName: 'issue_refund', params: { amount: 60_000 } }))

console.log('\n4. Rate limit: 3 a day (the first refund above counted)')
for (let i = 0; i < 3; i++) show(`refund 100, attempt ${i + 1}`, gate.evaluate({ ...bot, actionName: 'issue_refund', params: { amount: 100 } }))

console.log('\n5. guarded(): the tool runs only on Permit')
const fresh = Gate.fromObject(POLICY)
const issueRefund = guarded(fresh, { action: 'issue_refund', params: (_orderId: string, amount: number) => ({ amount }) }, async (orderId: string, amount: number) => ({ status: 'refunded', orderId, amount }))

async function tour(): Promise<void> {
  console.log('  ', await issueRefund.as(bot)('ORD-123', 500))
  try {
    await runAs(bot, () => issueRefund('ORD-124', 9_999))
  } catch (e) {
    if (e instanceof Refused) console.log(`   refused as expected: ${e.message}`)
  }
  try {
    await issueRefund('ORD-125', 1)
  } catch (e) {
    if (e instanceof Refused) console.log(`   no caller, so: ${e.message}`)
  }

  console.log('\n6. Misuse throws typed errors with stable codes')
  try {
    Gate.fromObject({ policies: [{ name: 'typo', effect: 'permit', conditions: [{ idnetity_kind: 'agent' }] }] } as never)
  } catch (e) {
    if (e instanceof PolicyParseError) console.log(`  ${e.code}: ${e.message}`)
  }
  try {
    gate.evaluate({ ...bot, actionName: 'issue_refund', params: { amount: Number.NaN } })
  } catch (e) {
    if (e instanceof InvalidArgumentError) console.log(`  ${e.code}: ${e.message}`)
  }

  console.log('\n7. Reload: a bad policy is rejected and the live set keeps answering')
  try {
    gate.reload('[[policy]]\nname = "x"\neffect = "allow"\nconditions = []\n')
  } catch (e) {
    console.log(`  reload refused: ${(e as Error).message}`)
  }
  show('report.daily after the failed reload', gate.evaluate({ principalId: 'alice', principalKind: 'user', actionName: 'report.daily' }))
  gate.reload('')
  show('same call after reload("") (kill switch)', gate.evaluate({ principalId: 'alice', principalKind: 'user', actionName: 'report.daily' }))

  console.log('\n8. Signed permits (post-quantum)')
  const signer = PqTokenSigner.generateHybrid()
  const signed = Gate.fromObject(POLICY, { tokenSigner: signer })
  const v = await signed.evaluateAsync({ ...bot, actionName: 'issue_refund', params: { amount: 10 } })
  if (v.permitToken !== undefined && v.signature !== undefined) {
    signer.verify(v.permitToken, v.signature) // throws on any tampering
    console.log(`  ${v.kind}: hybrid ML-DSA-65 + Ed25519 envelope, ${v.signature.length} bytes, key ${signer.keyId}: verified`)
  }
  await gate.close()
  console.log('\nDone.')
}

void tour()
