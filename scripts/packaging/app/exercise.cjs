'use strict'
// What a service does with kavach-sdk right after `npm install`: evaluate a policy, sign and
// verify the permit, append to a signed audit chain. `flavor` says which entry point (ESM or
// CommonJS) handed over the module; the output is one JSON line the packaging test checks.
const assert = require('node:assert/strict')
const { join } = require('node:path')

module.exports = function exercise(kavach, flavor) {
  const { AuditEntry, DirectoryTokenVerifier, Gate, KavachKeyPair, PqTokenSigner, PublicKeyBundle, PublicKeyDirectory, SignedAuditChain } = kavach

  const kp = KavachKeyPair.generate()
  const gate = Gate.fromObject(
    {
      policies: [
        {
          name: 'agent_small_refunds',
          effect: 'permit',
          conditions: [{ identity_kind: 'agent' }, { action: 'issue_refund' }, { param_max: { field: 'amount', max: 1000 } }],
        },
      ],
    },
    { tokenSigner: PqTokenSigner.fromKeypairHybrid(kp) },
  )
  const bot = { principalId: 'agent-bot', principalKind: 'agent', actionName: 'issue_refund' }
  const permit = gate.evaluate({ ...bot, params: { amount: 500 } })
  const refuse = gate.evaluate({ ...bot, params: { amount: 5000 } })
  assert.equal(permit.kind, 'permit')
  assert.equal(refuse.kind, 'refuse')
  assert.equal(refuse.code, 'NO_POLICY_MATCH')

  const bundle = PublicKeyBundle.fromJSON(kp.publicKeys().toJSON())
  const verifier = new DirectoryTokenVerifier(PublicKeyDirectory.inMemory([bundle]))
  verifier.verify(permit.permitToken, permit.signature)
  const forged = { ...permit.permitToken, actionName: 'delete_everything' }
  const forgedCode = codeOf(() => verifier.verify(forged, permit.signature))
  assert.equal(forgedCode, 'SIGNATURE_INVALID')

  const chain = SignedAuditChain.openFile(join(process.cwd(), `audit-${flavor}.jsonl`), kp, { syncEvery: 1 })
  chain.append(AuditEntry.new('agent-bot', 'issue_refund', 'permit', `packaging check (${flavor})`))
  chain.append(AuditEntry.new('agent-bot', 'issue_refund', 'refuse', refuse.code))
  const entries = SignedAuditChain.verifyJsonl(chain.exportJsonl(), bundle)
  chain.close()
  assert.equal(entries, 2)

  const addon = Object.keys(require.cache).find((path) => path.endsWith('.node'))
  console.log(JSON.stringify({ flavor, permit: permit.kind, refuse: refuse.code, signatureBytes: permit.signature.length, forgedCode, auditEntries: entries, addon }))
}

function codeOf(fn) {
  try {
    fn()
  } catch (e) {
    return e.code
  }
  return 'no error'
}
