//! The delivery script: one record's XADD behind its guard key, atomically (a Lua script runs
//! with nothing between its commands), so a redelivered record appends nothing and answers the
//! entry its first delivery appended. Also its dry run, which asks Redis' ACL whether the
//! user may run every command the script runs, on the very keys, without running them.

use std::sync::LazyLock;

use redis::{Cmd, Value};

use crate::entry::StreamEntry;

/// The script. The guard is written after the XADD, not before: Redis keeps a script's writes
/// made before an error, so a guard set first would outlive a failed XADD (a WRONGTYPE key)
/// and answer for an entry that does not exist. Both writes land in the append-only file as
/// one MULTI/EXEC, so an entry never survives a crash without its guard.
///
/// KEYS[1]: the stream; KEYS[2]: the record's guard key.
/// ARGV[1]: the guard's lifetime in seconds, or `dry_run`; ARGV[2]: MAXLEN (0: none);
/// ARGV[3..]: the entry's field names and values.
/// Answers `{1, id}` for a new entry, `{0, id}` for one an earlier delivery appended, and for a
/// dry run `{2, denied...}` (the commands the ACL refuses), or `{3}` where Redis cannot tell
/// (before 7.0).
pub const CODE: &str = r#"
local maxlen = tonumber(ARGV[2])
local xadd = {'XADD', KEYS[1]}
if maxlen > 0 then
  table.insert(xadd, 'MAXLEN')
  table.insert(xadd, '~')
  table.insert(xadd, ARGV[2])
end
table.insert(xadd, '*')
if ARGV[1] == 'dry_run' then
  if not redis.acl_check_cmd then
    return {3}
  end
  table.insert(xadd, 'courier_record_id')
  table.insert(xadd, 'x')
  local answer = {2}
  if not redis.acl_check_cmd(unpack(xadd)) then table.insert(answer, 'XADD') end
  if not redis.acl_check_cmd('GET', KEYS[2]) then table.insert(answer, 'GET') end
  if not redis.acl_check_cmd('SET', KEYS[2], 'x', 'NX', 'EX', '60') then
    table.insert(answer, 'SET')
  end
  return answer
end
local existing = redis.call('GET', KEYS[2])
if existing then
  return {0, existing}
end
for i = 3, #ARGV do
  table.insert(xadd, ARGV[i])
end
local id = redis.call(unpack(xadd))
redis.call('SET', KEYS[2], id, 'NX', 'EX', ARGV[1])
return {1, id}
"#;

/// The most fields an entry may have: the script hands them to XADD as one Lua call's
/// arguments, and Lua 5.1 takes under 8000 of those.
pub const MAX_FIELDS: usize = 1000;

/// The script, with its SHA1 computed once.
pub static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(CODE));

/// How a command names the script: by hash (cached on the server), or by its code (which
/// caches it, after a NOSCRIPT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invoke {
    /// `EVALSHA <sha1>`.
    Hash,
    /// `EVAL <code>`.
    Code,
}

fn start(invoke: Invoke, stream: &str, guard: &str) -> Cmd {
    let mut cmd = match invoke {
        Invoke::Hash => {
            let mut c = redis::cmd("EVALSHA");
            c.arg(SCRIPT.get_hash());
            c
        }
        Invoke::Code => {
            let mut c = redis::cmd("EVAL");
            c.arg(CODE);
            c
        }
    };
    cmd.arg(2).arg(stream).arg(guard);
    cmd
}

/// The key that remembers a record's entry.
pub fn guard_key(stream: &str, record_id: &str) -> String {
    format!("{}{stream}:{record_id}", crate::config::DEDUP_PREFIX)
}

/// The command appending `entry` behind its guard.
pub fn append(invoke: Invoke, entry: &StreamEntry, ttl_seconds: u64, maxlen: u64) -> Cmd {
    let mut cmd = start(invoke, &entry.stream, &entry.guard);
    cmd.arg(ttl_seconds).arg(maxlen);
    for (name, value) in &entry.fields {
        cmd.arg(name.as_bytes()).arg(&value[..]);
    }
    cmd
}

/// The command asking whether the user may append to `stream` and keep `guard`.
pub fn dry_run(invoke: Invoke, stream: &str, guard: &str, maxlen: u64) -> Cmd {
    let mut cmd = start(invoke, stream, guard);
    cmd.arg("dry_run").arg(maxlen);
    cmd
}

/// What the script answered to an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The entry's id.
    pub id: String,
    /// Whether this call appended it (false: an earlier delivery did).
    pub new: bool,
}

/// Reads the script's answer to an append; `None` if it is not one.
pub fn read_append(value: &Value) -> Option<Appended> {
    let Value::Array(items) = value else {
        return None;
    };
    let new = match items.first()? {
        Value::Int(1) => true,
        Value::Int(0) => false,
        _ => return None,
    };
    let id = match items.get(1)? {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok()?,
        Value::SimpleString(s) => s.clone(),
        _ => return None,
    };
    Some(Appended { id, new })
}

/// What the dry run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DryRun {
    /// The commands the ACL refuses (none: every one is allowed).
    Checked(Vec<String>),
    /// The server cannot check (Redis before 7.0).
    Unchecked,
}

/// Reads the script's answer to a dry run; `None` if it is not one.
pub fn read_dry_run(value: &Value) -> Option<DryRun> {
    let Value::Array(items) = value else {
        return None;
    };
    match items.first()? {
        Value::Int(3) => Some(DryRun::Unchecked),
        Value::Int(2) => Some(DryRun::Checked(
            items[1..]
                .iter()
                .filter_map(|v| match v {
                    Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
                    Value::SimpleString(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read() {
        let v = Value::Array(vec![Value::Int(1), Value::BulkString(b"1-0".to_vec())]);
        assert_eq!(
            read_append(&v),
            Some(Appended {
                id: "1-0".into(),
                new: true
            })
        );
        let v = Value::Array(vec![Value::Int(0), Value::BulkString(b"1-0".to_vec())]);
        assert_eq!(read_append(&v).map(|a| a.new), Some(false));
        assert_eq!(read_append(&Value::Okay), None);
        let v = Value::Array(vec![Value::Int(2), Value::BulkString(b"SET".to_vec())]);
        assert_eq!(read_dry_run(&v), Some(DryRun::Checked(vec!["SET".into()])));
        assert_eq!(
            read_dry_run(&Value::Array(vec![Value::Int(3)])),
            Some(DryRun::Unchecked)
        );
    }

    #[test]
    fn guard_keys_name_stream_and_record() {
        assert_eq!(guard_key("orders", "dlv_1"), "courier:dedup:orders:dlv_1");
    }
}
