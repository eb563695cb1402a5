//! When each miner is polled: one task for the whole fleet, holding every miner's next turn in
//! a heap, and a task per poll only while it runs.
//!
//! A task per miner, asleep between polls, cost ~900 bytes of task and timer per miner (9 MB
//! at 10,000 miners) and a timer of its own each; here an idle miner is its state (~300 bytes)
//! and a heap entry, and the fleet has one timer.

use super::Shared;
use super::poller::{PollerState, jitter, poll_once};
use crate::hashing::FastMap;
use crate::storage::MinerConfig;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What the manager asks of the schedule.
pub(super) enum Command {
    /// Start polling a miner, replacing one of the same id.
    Add(Arc<MinerConfig>),
    /// Stop polling a miner; the answer is its poll in flight, aborted, to wait for.
    Remove(String, oneshot::Sender<Option<JoinHandle<()>>>),
    /// Poll a miner now, or as soon as its poll in flight ends.
    PollNow(String),
    /// Abort every poll and stop.
    Shutdown(oneshot::Sender<()>),
}

/// One miner in the schedule.
struct Slot {
    /// Tells this miner's polls from those of a miner it replaced.
    generation: u64,
    /// The heap entry that is its next turn; older entries are stale.
    ticket: u64,
    /// Between polls; taken by the poll while it runs.
    state: Option<Box<PollerState>>,
    running: Option<JoinHandle<()>>,
    /// Poll again as soon as the running poll ends.
    again: bool,
}

/// A poll that ended, with the state it took.
struct Done {
    id: Arc<str>,
    generation: u64,
    state: Box<PollerState>,
    /// When the next poll is due; `None` once the daemon is shutting down.
    next: Option<Instant>,
}

/// Runs the schedule until [`Command::Shutdown`] or until every sender is gone.
pub(super) async fn run(shared: Arc<Shared>, mut commands: mpsc::UnboundedReceiver<Command>) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut s = Schedule {
        shared,
        done: done_tx,
        slots: FastMap::default(),
        heap: BinaryHeap::new(),
        counter: 0,
    };
    let timer = tokio::time::sleep_until(Instant::now());
    tokio::pin!(timer);
    let mut armed: Option<Instant> = None;
    loop {
        let next = s.heap.peek().map(|Reverse((at, _, _))| *at);
        if next != armed
            && let Some(at) = next
        {
            timer.as_mut().reset(at);
        }
        armed = next;
        tokio::select! {
            c = commands.recv() => match c {
                Some(Command::Shutdown(ack)) => {
                    s.abort_all();
                    let _ = ack.send(());
                    return;
                }
                Some(c) => s.command(c),
                None => {
                    s.abort_all();
                    return;
                }
            },
            Some(d) = done_rx.recv() => s.done(d),
            () = &mut timer, if armed.is_some() => {
                armed = None;
                s.start_due();
            }
        }
    }
}

struct Schedule {
    shared: Arc<Shared>,
    done: mpsc::UnboundedSender<Done>,
    slots: FastMap<Arc<str>, Slot>,
    /// Next turns: (when, ticket, miner).
    heap: BinaryHeap<Reverse<(Instant, u64, Arc<str>)>>,
    counter: u64,
}

impl Schedule {
    fn next_number(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// Puts `id`'s next turn at `at`, making any earlier entry of it stale.
    fn book(&mut self, id: Arc<str>, at: Instant) {
        let ticket = self.next_number();
        if let Some(slot) = self.slots.get_mut(&id) {
            slot.ticket = ticket;
            self.heap.push(Reverse((at, ticket, id)));
        }
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::Add(miner) => {
                let id: Arc<str> = miner.id.as_str().into();
                if let Some(old) = self.slots.remove(&id)
                    && let Some(task) = old.running
                {
                    task.abort();
                }
                let first = Instant::now() + jitter(&id, self.shared.config.poll_interval);
                let generation = self.next_number();
                self.slots.insert(
                    id.clone(),
                    Slot {
                        generation,
                        ticket: 0,
                        state: Some(Box::new(PollerState::new(miner))),
                        running: None,
                        again: false,
                    },
                );
                self.book(id, first);
            }
            Command::Remove(id, ack) => {
                let running = self.slots.remove(id.as_str()).and_then(|s| s.running);
                if let Some(task) = &running {
                    task.abort();
                }
                let _ = ack.send(running);
            }
            Command::PollNow(id) => {
                let Some((key, slot)) = self.slots.get_key_value(id.as_str()) else {
                    return;
                };
                if slot.running.is_none() {
                    let key = key.clone();
                    self.book(key, Instant::now());
                } else if let Some(slot) = self.slots.get_mut(id.as_str()) {
                    slot.again = true;
                }
            }
            Command::Shutdown(_) => {}
        }
    }

    /// Starts every poll whose turn has come.
    fn start_due(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, _, _))) = self.heap.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, ticket, id))) = self.heap.pop() else {
                break;
            };
            let Some(slot) = self.slots.get_mut(&id) else {
                continue;
            };
            if slot.ticket != ticket || slot.running.is_some() {
                continue;
            }
            let Some(mut state) = slot.state.take() else {
                continue;
            };
            let (shared, done, generation) =
                (self.shared.clone(), self.done.clone(), slot.generation);
            slot.running = Some(tokio::spawn(async move {
                let started = Instant::now();
                // The permit first, then the poll boxed: only polls that run (at most
                // `max_concurrent`) hold a poll's futures.
                let Ok(permit) = shared.permits.acquire().await else {
                    return;
                };
                let go_on = Box::pin(poll_once(&shared, &mut state, started)).await;
                drop(permit);
                let next = go_on.then(|| started + state.wait(&shared.config));
                let _ = done.send(Done {
                    id,
                    generation,
                    state,
                    next,
                });
            }));
        }
    }

    fn done(&mut self, d: Done) {
        let Some(slot) = self.slots.get_mut(&d.id) else {
            return;
        };
        if slot.generation != d.generation {
            return;
        }
        slot.running = None;
        slot.state = Some(d.state);
        let Some(next) = d.next else {
            return;
        };
        let at = if std::mem::take(&mut slot.again) {
            Instant::now()
        } else {
            next
        };
        self.book(d.id, at);
    }

    fn abort_all(&mut self) {
        for slot in self.slots.values() {
            if let Some(task) = &slot.running {
                task.abort();
            }
        }
        self.slots.clear();
        self.heap.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an idle miner costs the schedule, besides its config: its slot, its state and a
    /// heap entry. At 10,000 miners these sizes are megabytes of the daemon's memory.
    #[test]
    fn an_idle_miner_is_small() {
        let slot = std::mem::size_of::<Slot>() + std::mem::size_of::<Arc<str>>();
        let state = std::mem::size_of::<PollerState>();
        let entry = std::mem::size_of::<Reverse<(Instant, u64, Arc<str>)>>();
        assert!(slot <= 64, "slot {slot} bytes");
        assert!(state <= 320, "state {state} bytes");
        assert!(entry <= 48, "heap entry {entry} bytes");
    }
}
