//! The publisher's confirm window, without RabbitMQ: which unconfirmed messages go out next,
//! how many may await their confirm at once, and which confirmed ones can be reported (in
//! publish order, so an ack that overtakes an earlier message waits for it).

use std::collections::{BTreeSet, VecDeque};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// Not on the current channel yet (new, nacked, or its channel was lost).
    Waiting,
    /// Published on the current channel, confirm pending.
    InFlight,
    /// Confirmed, waiting for earlier messages to be confirmed before it is reported.
    Acked,
}

struct Slot<T> {
    item: T,
    state: SlotState,
    sent: u32,
}

/// Unconfirmed messages in publish order, numbered from 0 by the order they were pushed.
pub(super) struct ConfirmWindow<T> {
    /// `slots[i]` has sequence number `front_seq + i`.
    slots: VecDeque<Slot<T>>,
    front_seq: u64,
    /// Sequence numbers to publish on the current channel, lowest (oldest) first.
    to_send: BTreeSet<u64>,
    in_flight: usize,
    /// At most this many publishes await their confirm.
    window: usize,
}

impl<T> ConfirmWindow<T> {
    /// An empty window letting at most `window` publishes (at least 1) await their confirm.
    pub(super) fn new(window: usize) -> Self {
        Self {
            slots: VecDeque::new(),
            front_seq: 0,
            to_send: BTreeSet::new(),
            in_flight: 0,
            window: window.max(1),
        }
    }

    /// Unconfirmed messages.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The sequence number the next [`push`](Self::push) gets.
    pub(super) fn next_seq(&self) -> u64 {
        self.front_seq + self.slots.len() as u64
    }

    /// Adds a message to publish; returns its sequence number.
    pub(super) fn push(&mut self, item: T) -> u64 {
        let seq = self.next_seq();
        self.slots.push_back(Slot {
            item,
            state: SlotState::Waiting,
            sent: 0,
        });
        self.to_send.insert(seq);
        seq
    }

    /// The oldest message waiting to be published, if the window has room: its sequence
    /// number and the message. Call [`sent`](Self::sent) or [`unsent`](Self::unsent) next.
    pub(super) fn next_to_send(&mut self) -> Option<(u64, &T)> {
        if self.in_flight >= self.window {
            return None;
        }
        loop {
            let seq = self.to_send.pop_first()?;
            if let Some(index) = self.index(seq) {
                return Some((seq, &self.slots[index].item));
            }
        }
    }

    /// The message `seq` was published; returns whether it had been published before.
    pub(super) fn sent(&mut self, seq: u64) -> bool {
        let Some(index) = self.index(seq) else {
            return false;
        };
        let slot = &mut self.slots[index];
        let again = slot.sent > 0;
        slot.sent += 1;
        slot.state = SlotState::InFlight;
        self.in_flight += 1;
        again
    }

    /// Publishing `seq` failed: it goes out again (first) on the next channel.
    pub(super) fn unsent(&mut self, seq: u64) {
        self.to_send.insert(seq);
    }

    /// The broker acked `seq`: returns the messages now confirmed in publish order (none
    /// while an earlier one is unconfirmed), or `None` for a confirm of an earlier channel
    /// (ignored).
    pub(super) fn ack(&mut self, seq: u64) -> Option<Vec<T>> {
        if !self.take_in_flight(seq) {
            return None;
        }
        if let Some(index) = self.index(seq) {
            self.slots[index].state = SlotState::Acked;
        }
        let mut released = Vec::new();
        while self
            .slots
            .front()
            .is_some_and(|slot| slot.state == SlotState::Acked)
        {
            let Some(slot) = self.slots.pop_front() else {
                break;
            };
            self.front_seq += 1;
            released.push(slot.item);
        }
        Some(released)
    }

    /// The broker nacked `seq`: it is published again. `false` for a confirm of an earlier
    /// channel (ignored).
    pub(super) fn nack(&mut self, seq: u64) -> bool {
        if !self.take_in_flight(seq) {
            return false;
        }
        if let Some(index) = self.index(seq) {
            self.slots[index].state = SlotState::Waiting;
        }
        self.to_send.insert(seq);
        true
    }

    /// After a connection loss: everything in flight goes out again, in order.
    pub(super) fn requeue_in_flight(&mut self) {
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if slot.state == SlotState::InFlight {
                slot.state = SlotState::Waiting;
                self.to_send.insert(self.front_seq + index as u64);
            }
        }
        self.in_flight = 0;
    }

    /// Whether `seq` awaits its confirm; if so, it no longer does.
    fn take_in_flight(&mut self, seq: u64) -> bool {
        let in_flight = self
            .index(seq)
            .is_some_and(|index| self.slots[index].state == SlotState::InFlight);
        if in_flight {
            self.in_flight -= 1;
        }
        in_flight
    }

    fn index(&self, seq: u64) -> Option<usize> {
        let index = usize::try_from(seq.checked_sub(self.front_seq)?).ok()?;
        (index < self.slots.len()).then_some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Publishes what the window lets out; returns the sequence numbers and whether each
    /// was a republish.
    fn send_all(window: &mut ConfirmWindow<&'static str>) -> Vec<(u64, bool)> {
        let mut sent = Vec::new();
        while let Some((seq, _)) = window.next_to_send() {
            sent.push((seq, window.sent(seq)));
        }
        sent
    }

    #[test]
    fn at_most_window_publishes_await_their_confirm() {
        let mut window = ConfirmWindow::new(2);
        for item in ["a", "b", "c"] {
            window.push(item);
        }
        assert_eq!(send_all(&mut window), vec![(0, false), (1, false)]);
        assert_eq!(window.ack(0), Some(vec!["a"]));
        assert_eq!(send_all(&mut window), vec![(2, false)]);
        assert_eq!(window.ack(1), Some(vec!["b"]));
        assert_eq!(window.ack(2), Some(vec!["c"]));
        assert!(window.is_empty());
        assert_eq!(window.next_seq(), 3);
    }

    #[test]
    fn an_ack_that_overtakes_an_earlier_message_waits_for_it() {
        let mut window = ConfirmWindow::new(10);
        for item in ["a", "b", "c"] {
            window.push(item);
        }
        send_all(&mut window);
        assert_eq!(window.ack(2), Some(vec![]), "c waits for a and b");
        assert_eq!(window.ack(1), Some(vec![]), "b waits for a");
        assert_eq!(
            window.ack(0),
            Some(vec!["a", "b", "c"]),
            "reported in publish order"
        );
        assert_eq!(window.ack(1), None, "a second confirm is ignored");
    }

    #[test]
    fn a_nacked_message_is_published_again_before_later_ones() {
        let mut window = ConfirmWindow::new(10);
        for item in ["a", "b"] {
            window.push(item);
        }
        send_all(&mut window);
        assert!(window.nack(0));
        assert_eq!(window.ack(1), Some(vec![]), "b waits for the nacked a");
        window.push("c");
        assert_eq!(
            send_all(&mut window),
            vec![(0, true), (2, false)],
            "a again (a republish), then c"
        );
        assert_eq!(window.ack(0), Some(vec!["a", "b"]));
        assert_eq!(window.ack(2), Some(vec!["c"]));
    }

    #[test]
    fn a_connection_loss_requeues_what_was_in_flight_in_order() {
        let mut window = ConfirmWindow::new(2);
        for item in ["a", "b", "c"] {
            window.push(item);
        }
        assert_eq!(send_all(&mut window), vec![(0, false), (1, false)]);
        window.requeue_in_flight();
        // Confirms of the lost channel arrive late: ignored.
        assert_eq!(window.ack(0), None);
        assert!(!window.nack(1));
        assert_eq!(window.len(), 3);
        assert_eq!(send_all(&mut window), vec![(0, true), (1, true)]);
        // A publish that failed goes out first on the next channel.
        window.requeue_in_flight();
        let (seq, item) = window.next_to_send().expect("room");
        assert_eq!((seq, *item), (0, "a"));
        window.unsent(seq);
        assert_eq!(
            send_all(&mut window),
            vec![(0, true), (1, true)],
            "c still waits for room"
        );
        assert_eq!(window.ack(0), Some(vec!["a"]));
        assert_eq!(send_all(&mut window), vec![(2, false)]);
        assert_eq!(window.ack(1), Some(vec!["b"]));
        assert_eq!(window.ack(2), Some(vec!["c"]));
    }
}
