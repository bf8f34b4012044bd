//! A session's stored state without creating or touching it (`gate.explain`): one `HGETALL`,
//! no seed written, no TTL refreshed, nothing counted.

use kavach_core::session::SessionState;

use super::{decode_state, RedisSessionStore};
use crate::error::Result;

impl RedisSessionStore {
    /// The state `load` would return for a session already seen, or `None` for one it would
    /// create (no hash, or a hash holding only counts written before its first load). A
    /// revocation recorded before the first load is returned: it refuses every call.
    pub async fn peek_state(&self, session_id: &str) -> Result<Option<SessionState>> {
        let key = &self.key_for(session_id);
        let fields: Vec<(String, String)> = self
            .conn
            .run(|mut c| async move { redis::cmd("HGETALL").arg(key).query_async(&mut c).await })
            .await?;
        let seen = fields
            .iter()
            .any(|(f, _)| f == "started_at" || f == "invalidated");
        if !seen {
            return Ok(None);
        }
        decode_state(fields).map(Some)
    }
}
