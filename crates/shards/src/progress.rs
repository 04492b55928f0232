//! What each shard received and what the broker confirmed, so that only confirmed sequence
//! numbers are persisted for resuming.

/// Bits of a publish ticket used by the sequence number.
const SEQ_BITS: u32 = 40;
/// Bits used by the session generation.
const GENERATION_BITS: u32 = 4;

/// Packs a shard, a session generation and a sequence number into the opaque `u64` ticket the
/// publisher hands back on confirm.
pub fn ticket(shard_id: u32, generation: u8, seq: u64) -> u64 {
    (u64::from(shard_id) << (SEQ_BITS + GENERATION_BITS))
        | (u64::from(generation & 0x0f) << SEQ_BITS)
        | (seq & ((1 << SEQ_BITS) - 1))
}

/// Unpacks a [`ticket`].
pub fn untick(ticket: u64) -> (u32, u8, u64) {
    let shard = u32::try_from(ticket >> (SEQ_BITS + GENERATION_BITS)).unwrap_or(u32::MAX);
    let generation = u8::try_from((ticket >> SEQ_BITS) & 0x0f).unwrap_or(0);
    (shard, generation, ticket & ((1 << SEQ_BITS) - 1))
}

/// Forwarding progress of one shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Current Discord session.
    pub session_id: Option<String>,
    /// Where that session resumes.
    pub resume_url: Option<String>,
    /// Bumped on every new session, so confirms of an old session are ignored.
    pub generation: u8,
    /// Last dispatch received.
    pub last_seq: u64,
    /// Last forwarded dispatch the broker confirmed (this generation).
    pub confirmed_seq: u64,
    /// Forwarded dispatches not confirmed yet.
    pub inflight: u64,
}

impl Progress {
    /// Progress of a session restored from Redis: everything up to `seq` was handled.
    pub fn restored(session_id: String, resume_url: Option<String>, seq: u64) -> Self {
        Self {
            session_id: Some(session_id),
            resume_url,
            generation: 1,
            last_seq: seq,
            confirmed_seq: seq,
            inflight: 0,
        }
    }

    /// A new session started (READY).
    pub fn new_session(&mut self, session_id: String, resume_url: Option<String>) {
        self.generation = self.generation.wrapping_add(1) & 0x0f;
        self.session_id = Some(session_id);
        self.resume_url = resume_url;
        self.last_seq = 0;
        self.confirmed_seq = 0;
        self.inflight = 0;
    }

    /// Dispatch `seq` arrived; `forwarded` if it was handed to the publisher.
    pub fn received(&mut self, seq: u64, forwarded: bool) {
        self.last_seq = self.last_seq.max(seq);
        if forwarded {
            self.inflight += 1;
        }
    }

    /// The broker confirmed the publish of `seq` in `generation`.
    pub fn confirmed(&mut self, generation: u8, seq: u64) {
        if generation == self.generation && self.inflight > 0 {
            self.confirmed_seq = self.confirmed_seq.max(seq);
            self.inflight -= 1;
        }
    }

    /// The sequence number that is safe to resume from: every dispatch up to it was either
    /// confirmed by the broker or deliberately not forwarded.
    pub fn resumable_seq(&self) -> u64 {
        if self.inflight == 0 {
            self.last_seq
        } else {
            self.confirmed_seq
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_round_trip() {
        for (shard, generation, seq) in [(0, 0, 1), (1023, 15, (1 << 40) - 1), (7, 3, 123_456)] {
            assert_eq!(
                untick(ticket(shard, generation, seq)),
                (shard, generation, seq)
            );
        }
    }

    #[test]
    fn only_confirmed_sequences_are_resumable() {
        let mut p = Progress::default();
        p.new_session("s".into(), None);
        p.received(1, true);
        p.received(2, false);
        p.received(3, true);
        assert_eq!(p.resumable_seq(), 0, "nothing confirmed yet");
        p.confirmed(p.generation, 1);
        assert_eq!(p.resumable_seq(), 1, "3 is still in flight");
        p.confirmed(p.generation, 3);
        assert_eq!(p.resumable_seq(), 3);
        p.received(4, false);
        assert_eq!(p.resumable_seq(), 4, "filtered events need no confirm");
        let old = p.generation;
        p.new_session("t".into(), None);
        p.received(1, true);
        p.confirmed(old, 9);
        assert_eq!(
            (p.inflight, p.resumable_seq()),
            (1, 0),
            "a stale confirm changes nothing"
        );
    }
}
