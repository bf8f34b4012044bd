//! Session state shared by every replica, one Redis hash per session:
//! `kavach:<prefix>:sess:{<session id>}` with fields `started_at` (unix s), `origin_ip`,
//! `origin_geo` (JSON), `origin_device` (JSON), `action_count`, `invalidated` (the reason).
//!
//! Every operation is one Lua script on that one key, so two replicas never lose an update:
//! - `load_or_init` writes the seed only the first time the session is seen (the first replica
//!   fixes its start and origin, as the in-process store does) and returns the whole hash;
//! - `try_record_permit` increments `action_count` unless the session is invalidated or the
//!   count already reached the limit;
//! - `invalidate` records the first revocation reason.
//!
//! Each call refreshes the TTL (`ttlSeconds`), so idle sessions expire and active ones stay.
//! A revoked session is kept at least `REVOKED_RETENTION_SECONDS` (24 h) whatever the TTL:
//! otherwise a hijacked session id would come back to life, fresh, after an idle hour.

mod peek;

use std::sync::{Arc, LazyLock};

use kavach_core::session::{SessionSeed, SessionState};
use kavach_core::store::{Recorded, SessionStore, StoreFuture};
use kavach_core::{DeviceFingerprint, GeoLocation};
use redis::Script;
use serde::{Deserialize, Serialize};

use crate::connect::{ConnectOptions, RedisConn};
use crate::error::{RedisStoreError, Result};
use crate::keys;

/// Refreshes the session's expiry; a revoked session keeps at least 24 h (see the module doc;
/// the same retention as `kavach_core::store::memory::REVOKED_RETENTION_MS`).
macro_rules! touch_lua {
    () => {
        r"
local function touch(ttl)
  ttl = tonumber(ttl)
  if redis.call('HEXISTS', KEYS[1], 'invalidated') == 1 and ttl < 86400 then ttl = 86400 end
  redis.call('EXPIRE', KEYS[1], ttl)
end
"
    };
}

/// KEYS[1]: session hash. ARGV[1]: ttl seconds. ARGV[2]: started_at, then field/value pairs.
/// The seed is written only when the session is new (no `started_at` yet), field by field with
/// HSETNX so a revocation written before the session was first loaded is kept.
const LOAD_OR_INIT_LUA: &str = concat!(
    touch_lua!(),
    r"
if redis.call('HSETNX', KEYS[1], 'started_at', ARGV[2]) == 1 then
  for i = 3, #ARGV, 2 do
    redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
touch(ARGV[1])
return redis.call('HGETALL', KEYS[1])
"
);

/// KEYS[1]: session hash. ARGV[1]: ttl seconds. ARGV[2]: the limit, or '' for none.
/// Returns the new count, or -1 when the limit was already reached (nothing counted).
const RECORD_PERMIT_LUA: &str = concat!(
    touch_lua!(),
    r"
if redis.call('HEXISTS', KEYS[1], 'invalidated') == 1 then
  touch(ARGV[1])
  return -2
end
local current = tonumber(redis.call('HGET', KEYS[1], 'action_count') or '0')
if ARGV[2] ~= '' and current >= tonumber(ARGV[2]) then
  touch(ARGV[1])
  return -1
end
local n = redis.call('HINCRBY', KEYS[1], 'action_count', 1)
touch(ARGV[1])
return n
"
);

/// KEYS[1]: session hash. ARGV[1]: ttl seconds. ARGV[2]: reason (the first one is kept).
const INVALIDATE_LUA: &str = concat!(
    touch_lua!(),
    r"
redis.call('HSETNX', KEYS[1], 'invalidated', ARGV[2])
touch(ARGV[1])
return 1
"
);

static LOAD_OR_INIT: LazyLock<Script> = LazyLock::new(|| Script::new(LOAD_OR_INIT_LUA));
static RECORD_PERMIT: LazyLock<Script> = LazyLock::new(|| Script::new(RECORD_PERMIT_LUA));
static INVALIDATE: LazyLock<Script> = LazyLock::new(|| Script::new(INVALIDATE_LUA));

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeoJson {
    country_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    longitude: Option<f64>,
}

#[derive(Serialize, Deserialize)]
struct DeviceJson {
    hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

pub struct RedisSessionStore {
    conn: Arc<RedisConn>,
    prefix: String,
    ttl_seconds: u64,
}

impl RedisSessionStore {
    pub async fn connect(
        url: &str,
        ttl_seconds: u64,
        prefix: Option<&str>,
        opts: ConnectOptions,
    ) -> Result<Self> {
        if ttl_seconds == 0 {
            return Err(RedisStoreError::InvalidArgument(
                "ttlSeconds must be a positive integer".into(),
            ));
        }
        let prefix = keys::validate_prefix(prefix)?;
        let conn = RedisConn::connect(url, opts).await?;
        Ok(Self {
            conn,
            prefix,
            ttl_seconds,
        })
    }

    pub fn key_for(&self, session_id: &str) -> String {
        keys::key(&self.prefix, "sess", session_id)
    }

    pub fn ttl_seconds(&self) -> u64 {
        self.ttl_seconds
    }

    pub async fn load(&self, session_id: &str, seed: &SessionSeed) -> Result<SessionState> {
        let key = &self.key_for(session_id);
        let mut args: Vec<String> = Vec::with_capacity(13);
        args.push(self.ttl_seconds.to_string());
        args.push(seed.started_at.to_string());
        args.push("action_count".into());
        args.push(seed.action_count.to_string());
        if let Some(ip) = &seed.origin_ip {
            args.push("origin_ip".into());
            args.push(ip.clone());
        }
        if let Some(geo) = &seed.origin_geo {
            args.push("origin_geo".into());
            args.push(encode_geo(geo)?);
        }
        if let Some(dev) = &seed.origin_device {
            args.push("origin_device".into());
            args.push(encode_device(dev)?);
        }
        if let Some(reason) = &seed.invalidated {
            args.push("invalidated".into());
            args.push(reason.clone());
        }
        let args = &args;
        let fields: Vec<(String, String)> = self
            .conn
            .run(|mut c| async move {
                let mut inv = LOAD_OR_INIT.key(key);
                for a in args {
                    inv.arg(a);
                }
                inv.invoke_async(&mut c).await
            })
            .await?;
        decode_state(fields)
    }

    pub async fn record_permit(&self, session_id: &str, limit: Option<u64>) -> Result<Recorded> {
        let key = &self.key_for(session_id);
        let ttl = self.ttl_seconds;
        let limit = &limit.map(|l| l.to_string()).unwrap_or_default();
        let n: i64 = self
            .conn
            .run(|mut c| async move {
                RECORD_PERMIT
                    .key(key)
                    .arg(ttl)
                    .arg(limit)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(match n {
            -2 => Recorded::Invalidated,
            n => u64::try_from(n).map_or(Recorded::CapReached, Recorded::Counted),
        })
    }

    pub async fn revoke(&self, session_id: &str, reason: &str) -> Result<()> {
        let key = &self.key_for(session_id);
        let ttl = self.ttl_seconds;
        let _: i64 = self
            .conn
            .run(|mut c| async move {
                INVALIDATE
                    .key(key)
                    .arg(ttl)
                    .arg(reason)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(())
    }

    pub fn close(&self) {
        self.conn.close();
    }

    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }
}

fn encode_geo(g: &GeoLocation) -> Result<String> {
    serde_json::to_string(&GeoJson {
        country_code: g.country_code.clone(),
        region: g.region.clone(),
        city: g.city.clone(),
        latitude: g.latitude,
        longitude: g.longitude,
    })
    .map_err(|e| RedisStoreError::InvalidArgument(format!("origin geo: {e}")))
}

fn encode_device(d: &DeviceFingerprint) -> Result<String> {
    serde_json::to_string(&DeviceJson {
        hash: d.hash.clone(),
        description: d.description.clone(),
    })
    .map_err(|e| RedisStoreError::InvalidArgument(format!("origin device: {e}")))
}

/// Reads the hash back. An unreadable field is an error (the gate refuses), never a default
/// that could let a session through.
fn decode_state(fields: Vec<(String, String)>) -> Result<SessionState> {
    let mut s = SessionState::default();
    let bad = |f: &str, v: &str| RedisStoreError::Protocol(format!("session field '{f}' = '{v}'"));
    for (f, v) in fields {
        match f.as_str() {
            "started_at" => s.started_at = v.parse().map_err(|_| bad(&f, &v))?,
            "action_count" => s.action_count = v.parse().map_err(|_| bad(&f, &v))?,
            "origin_ip" => s.origin_ip = Some(v),
            "origin_geo" => {
                let g: GeoJson = serde_json::from_str(&v).map_err(|_| bad(&f, &v))?;
                s.origin_geo = Some(GeoLocation {
                    country_code: g.country_code,
                    region: g.region,
                    city: g.city,
                    latitude: g.latitude,
                    longitude: g.longitude,
                });
            }
            "origin_device" => {
                let d: DeviceJson = serde_json::from_str(&v).map_err(|_| bad(&f, &v))?;
                s.origin_device = Some(DeviceFingerprint {
                    hash: d.hash,
                    description: d.description,
                });
            }
            "invalidated" => s.invalidated = Some(v),
            // Fields written by a newer version are ignored, not fatal.
            _ => {}
        }
    }
    Ok(s)
}

impl SessionStore for RedisSessionStore {
    fn load_or_init<'a>(
        &'a self,
        session_id: &'a str,
        seed: &'a SessionSeed,
    ) -> StoreFuture<'a, SessionState> {
        Box::pin(async move { self.load(session_id, seed).await.map_err(Into::into) })
    }

    fn try_record_permit<'a>(
        &'a self,
        session_id: &'a str,
        limit: Option<u64>,
    ) -> StoreFuture<'a, Recorded> {
        Box::pin(async move {
            self.record_permit(session_id, limit)
                .await
                .map_err(Into::into)
        })
    }

    fn invalidate<'a>(&'a self, session_id: &'a str, reason: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.revoke(session_id, reason).await.map_err(Into::into) })
    }

    fn peek<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Option<SessionState>> {
        Box::pin(async move { self.peek_state(session_id).await.map_err(Into::into) })
    }

    fn is_in_process(&self) -> bool {
        false
    }
}
