// kavach-sdk public entry: curated exports only, no logic of its own.
// Each section is owned by one capability; add exports inside your own section.

// --- foundation: gate, context, verdicts, guarded(), errors ---

// --- drift & invalidation ---

// --- post-quantum identity: key pairs, token signer, directory ---

// --- audit chain & secure channel ---

// --- redis stores ---

// --- integrations ---
