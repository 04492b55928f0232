//! WebSocket sessions: attaching (new or resumed), detaching, killing and reviving the node.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::json;
use tokio::sync::mpsc;

use super::player::{nonzero, player_update_json};
use super::{Conn, Node, Session};
use crate::util::random_hex;

impl Node {
    // ---- WebSocket sessions -------------------------------------------------------------

    /// Attaches a new socket: resumes `resume` if it names a resumable session, else creates
    /// a session. Queues `ready` (and, on resume, the buffered events) on `tx`. Returns the
    /// session id and whether it was resumed.
    pub(crate) fn attach(
        &self,
        user_id: u64,
        client_name: &str,
        resume: Option<&str>,
        conn_id: u64,
        tx: mpsc::UnboundedSender<String>,
    ) -> (String, bool) {
        let now = Instant::now();
        let speed = self.speed();
        let update_interval = nonzero(self.config.player_update_interval);
        let mut st = self.lock();
        self.connections.fetch_add(1, Ordering::Relaxed);
        let resumable = resume.and_then(|id| st.sessions.get_mut(id)).filter(|s| {
            s.conn.is_none() && s.resuming && s.expires_at().is_some_and(|at| now < at)
        });
        if let Some(session) = resumable {
            self.resumes.fetch_add(1, Ordering::Relaxed);
            session.conn = Some(Conn { id: conn_id, tx });
            session.disconnected_at = None;
            let ready = json!({"op": "ready", "resumed": true, "sessionId": session.id});
            session.send(ready.to_string(), false);
            for msg in std::mem::take(&mut session.backlog) {
                session.send(msg, true);
            }
            let updates: Vec<String> = session
                .players
                .values_mut()
                .filter(|p| p.playing.is_some())
                .map(|p| {
                    p.next_update = update_interval.map(|i| now + i);
                    player_update_json(p, now, speed)
                })
                .collect();
            for msg in updates {
                session.send(msg, false);
            }
            let id = session.id.clone();
            drop(st);
            self.wake.notify_one();
            return (id, true);
        }
        let mut id = random_hex(16);
        while st.sessions.contains_key(&id) {
            id = random_hex(16);
        }
        self.sessions_created.fetch_add(1, Ordering::Relaxed);
        let mut session = Session {
            id: id.clone(),
            user_id,
            client_name: client_name.to_owned(),
            resuming: false,
            timeout: 60,
            conn: Some(Conn { id: conn_id, tx }),
            disconnected_at: None,
            backlog: Vec::new(),
            players: BTreeMap::new(),
            next_stats: nonzero(self.config.stats_interval).map(|i| now + i),
        };
        let ready = json!({"op": "ready", "resumed": false, "sessionId": id});
        session.send(ready.to_string(), false);
        st.sessions.insert(id.clone(), session);
        // Lavalink's first `stats` follows the new session at once (then one per interval).
        if nonzero(self.config.stats_interval).is_some() {
            let stats = self.stats_from(&st, true).to_string();
            if let Some(session) = st.sessions.get_mut(&id) {
                session.send(stats, false);
            }
        }
        // The engine may be asleep until much later: have it schedule this session's stats.
        drop(st);
        self.wake.notify_one();
        (id, false)
    }

    /// Detaches socket `conn_id` from its session: the session waits to be resumed if resuming
    /// is enabled, else it is destroyed with its players. Returns whether the socket was still
    /// attached.
    pub(crate) fn detach(&self, session_id: &str, conn_id: u64) -> bool {
        let mut st = self.lock();
        let Some(session) = st.sessions.get_mut(session_id) else {
            return false;
        };
        if session.conn.as_ref().is_none_or(|c| c.id != conn_id) {
            return false;
        }
        session.conn = None;
        if session.resuming {
            session.disconnected_at = Some(Instant::now());
        } else {
            st.sessions.remove(session_id);
        }
        drop(st);
        self.wake.notify_one();
        true
    }

    /// Drops every socket (sessions follow the normal close rules, or are all forgotten with
    /// `forget`) and refuses new connections until [`Node::revive`].
    pub(crate) fn kill(&self, forget: bool) {
        self.killed.store(true, Ordering::SeqCst);
        {
            let mut st = self.lock();
            let now = Instant::now();
            if forget {
                st.sessions.clear();
            } else {
                st.sessions.retain(|_, s| {
                    if s.conn.take().is_none() {
                        return true;
                    }
                    s.disconnected_at = Some(now);
                    s.resuming
                });
            }
        }
        self.kill_switch.send_modify(|generation| *generation += 1);
        self.wake.notify_one();
    }

    /// Accepts connections again after [`Node::kill`].
    pub(crate) fn revive(&self) {
        self.killed.store(false, Ordering::SeqCst);
    }
}
