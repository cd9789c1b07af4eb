//! One broker connection shared by every delivery of a destination: a spawned driver owns rumqttc's
//! event loop and matches each acknowledgement to the message it answers, so a record is
//! reported delivered only when the broker acknowledged its own message.
//!
//! rumqttc reports a publish only by its packet id, when the event loop writes it, and takes
//! requests from one queue in order. So each waiting message is queued here under the same lock
//! that puts its request on rumqttc's queue: the n-th publish the event loop reports is the
//! n-th waiting message; from then on its packet id finds it. When the connection breaks,
//! every message not yet acknowledged fails (retried by the runtime) and rumqttc's queues are
//! emptied under that lock, so no message is ever sent on a new connection without its
//! record waiting for it. The connection is made again when the next message comes.
//!
//! A broker may keep a connection alive (answering pings) and stop acknowledging: a request
//! whose deadline passes without a single answer on the connection since it began has the
//! connection reset the same way, so later requests do not queue behind messages that will
//! never be answered.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use courier_core::{ConnectorError, ErrorKind};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError, mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::errors::Refusal;
use crate::wire::{self, Grant, Loop, Note, Outgoing, Sender, Settings};

/// Why one message was not delivered.
#[derive(Debug)]
pub enum Failure {
    /// The broker answered it with a refusal (MQTT 5 reason code), and perhaps a reason.
    Refused(Refusal, Option<String>),
    /// The connection failed before the broker acknowledged it.
    Link(ConnectorError),
}

/// The broker's answer to one message.
pub type Answer = Result<(), Failure>;

/// Where the connection stands.
#[derive(Debug, Clone)]
pub enum Link {
    /// Not connected, and no attempt has finished yet.
    Idle,
    /// Connected, with what the broker's CONNACK allows.
    Up(Grant),
    /// The last attempt (or the last connection) failed.
    Down(ConnectorError),
}

#[derive(Debug, Clone)]
struct LinkState {
    link: Link,
    /// How many connections have failed (or attempts to make one), to tell a new answer from
    /// an old one.
    failures: u64,
}

/// A message waiting for its acknowledgement.
struct Waiter {
    reply: oneshot::Sender<Answer>,
    /// A place on rumqttc's request queue, held until the event loop takes the request.
    queued: Option<OwnedSemaphorePermit>,
}

#[derive(Default)]
struct Book {
    /// Requests on rumqttc's queue, in its order.
    queued: VecDeque<Waiter>,
    /// The request the event loop holds back until its packet id is free.
    collided: Option<Waiter>,
    /// Messages written and not yet acknowledged, at their packet id (ids stay below the
    /// in-flight limit, so this stays small).
    sent: Vec<Option<Waiter>>,
    /// Whether a caller waits for a connection (the connection test, the size limit).
    wants_link: bool,
}

impl Book {
    /// Files a written message under its packet id; answers the message it displaces, if any.
    fn file(&mut self, pkid: u16, waiter: Waiter) -> Option<Waiter> {
        let slot = usize::from(pkid);
        if slot >= self.sent.len() {
            self.sent.resize_with(slot + 1, || None);
        }
        self.sent[slot].replace(waiter)
    }

    /// Takes the message written under `pkid`, if one waits.
    fn take_sent(&mut self, pkid: u16) -> Option<Waiter> {
        self.sent.get_mut(usize::from(pkid)).and_then(Option::take)
    }
}

struct Shared {
    book: Mutex<Book>,
    work: Notify,
    link: watch::Sender<LinkState>,
    /// Places on rumqttc's request queue: it never fills, so queueing never waits under the lock.
    room: Arc<Semaphore>,
    /// Messages answered (acknowledged, refused, or written at QoS 0) on any connection: a
    /// request that saw none answered while it waited found the connection stalled.
    answered: AtomicU64,
    /// Asks the driver to reset a stalled connection: the connection that had failed this
    /// many times before it (a later one is not to blame).
    stalled: mpsc::UnboundedSender<u64>,
}

/// Where a session stood when a request began, to tell at its deadline whether the connection
/// answered anything since.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    answered: u64,
    failures: u64,
}

impl Shared {
    fn book(&self) -> MutexGuard<'_, Book> {
        // A panic while holding the lock leaves the book as consistent as any of its steps.
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A connection to the broker and the driver spawned for it, which ends when this is dropped.
pub struct Session {
    sender: Sender,
    shared: Arc<Shared>,
    driver: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("link", &self.shared.link.borrow().link)
            .finish_non_exhaustive()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Session {
    /// Spawns the driver that will connect to the broker when the first message (or
    /// [`Session::link`]) asks for it. Needs a tokio runtime.
    pub fn start(settings: Arc<Settings>) -> Session {
        let (sender, event_loop) = Loop::new(&settings, &settings.host);
        let (stalled, stalls) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            book: Mutex::new(Book::default()),
            work: Notify::new(),
            link: watch::Sender::new(LinkState {
                link: Link::Idle,
                failures: 0,
            }),
            room: Arc::new(Semaphore::new(wire::QUEUED)),
            answered: AtomicU64::new(0),
            stalled,
        });
        let driver = tokio::spawn(drive(event_loop, stalls, settings, shared.clone()));
        Session {
            sender,
            shared,
            driver,
        }
    }

    /// Whether the driver has ended (its runtime shut down): a new session is needed.
    pub fn is_finished(&self) -> bool {
        self.driver.is_finished()
    }

    /// What the broker allows, when connected now.
    pub fn grant(&self) -> Option<Grant> {
        match &self.shared.link.borrow().link {
            Link::Up(grant) => Some(*grant),
            _ => None,
        }
    }

    /// The connection as it stands after connecting if needed: waits up to `wait` for a
    /// connection attempt to end.
    pub async fn link(&self, wait: Duration) -> Link {
        let mut states = self.shared.link.subscribe();
        let failures = {
            let now = states.borrow_and_update();
            if let Link::Up(_) = now.link {
                return now.link.clone();
            }
            now.failures
        };
        self.shared.book().wants_link = true;
        self.shared.work.notify_one();
        let answered = states.wait_for(|s| match s.link {
            Link::Up(_) => true,
            Link::Down(_) => s.failures > failures,
            Link::Idle => false,
        });
        match tokio::time::timeout(wait, answered).await {
            Ok(Ok(state)) => state.link.clone(),
            _ => Link::Down(ConnectorError::new(
                ErrorKind::Timeout,
                "the MQTT broker did not accept a connection in time",
                "check broker_url and that the broker runs",
            )),
        }
    }

    /// Where the session stands now, for [`Session::reset_if_stalled`] at a request's deadline.
    pub fn mark(&self) -> Mark {
        Mark {
            answered: self.shared.answered.load(Ordering::Relaxed),
            failures: self.shared.link.borrow().failures,
        }
    }

    /// Called when a request's deadline passed with messages unanswered: if the connection
    /// answered no message at all since `mark` (it may still answer pings), it is stalled, and
    /// the driver resets it; every message waiting on it fails (retried), and the next message
    /// connects again. A connection that answered something is slow, not stuck: it is kept.
    pub fn reset_if_stalled(&self, mark: Mark) {
        if self.shared.answered.load(Ordering::Relaxed) != mark.answered {
            return;
        }
        let _ = self.shared.stalled.send(mark.failures);
    }

    /// Publishes one message; the receiver answers when the broker acknowledged it (at once
    /// for QoS 0, once it is written), refused it, or the connection failed first. Waits for
    /// room on the request queue until `deadline` at most.
    pub async fn publish(
        &self,
        message: Outgoing,
        qos: u8,
        retain: bool,
        deadline: Instant,
    ) -> Result<oneshot::Receiver<Answer>, ConnectorError> {
        let closed = || ConnectorError::internal("the MQTT session's request queue was closed");
        let place = match self.shared.room.clone().try_acquire_owned() {
            Ok(place) => place,
            Err(TryAcquireError::Closed) => return Err(closed()),
            Err(TryAcquireError::NoPermits) => {
                let room = self.shared.room.clone().acquire_owned();
                match tokio::time::timeout_at(deadline, room).await {
                    Ok(place) => place.map_err(|_| closed())?,
                    Err(_) => {
                        return Err(ConnectorError::new(
                            ErrorKind::Timeout,
                            "the MQTT connection took no more messages in time: the broker did not acknowledge those before them",
                            "the message is published again when the delivery is retried",
                        ));
                    }
                }
            }
        };
        let (reply, answer) = oneshot::channel();
        {
            let mut book = self.shared.book();
            book.queued.push_back(Waiter {
                reply,
                queued: Some(place),
            });
            if let Err(e) = self.sender.publish(message, qos, retain) {
                book.queued.pop_back();
                return Err(e);
            }
        }
        self.shared.work.notify_one();
        Ok(answer)
    }
}

/// How long the driver waits before connecting again after `failures` failures in a row.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis((50u64 << failures.min(6)).min(2_000))
}

/// The broker's address to dial: the checked address for plain TCP. TLS needs the host name
/// (for SNI and the certificate check), and rumqttc resolves it again itself: between that
/// check and its connection a window remains in which the name could change.
async fn dial(settings: &Settings) -> Result<String, ConnectorError> {
    let addrs =
        courier_core::net::resolve_checked(&settings.host, settings.port, settings.allow_private)
            .await
            .map_err(|e| crate::errors::resolve(&settings.label, &e))?;
    if settings.tls.is_some() {
        return Ok(settings.host.clone());
    }
    Ok(match addrs[0].ip() {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    })
}

/// The driver: connects when there is something to send, polls the event loop, and
/// answers each message.
async fn drive(
    mut event_loop: Loop,
    mut stalls: mpsc::UnboundedReceiver<u64>,
    settings: Arc<Settings>,
    shared: Arc<Shared>,
) {
    let mut connected = false;
    let mut failures: u32 = 0;
    loop {
        if !connected {
            loop {
                let work = shared.work.notified();
                {
                    let book = shared.book();
                    if !book.queued.is_empty() || book.wants_link {
                        break;
                    }
                }
                work.await;
            }
            match dial(&settings).await {
                Ok(address) => event_loop.redial(&settings, &address),
                Err(e) => {
                    fail_all(&mut event_loop, &shared, e);
                    failures += 1;
                    tokio::time::sleep(backoff(failures)).await;
                    continue;
                }
            }
        }
        let connecting_plain = !connected && settings.tls.is_none();
        let polled = tokio::select! {
            biased;
            Some(stalled) = stalls.recv() => Err(stalled),
            polled = event_loop.poll(&settings.label, connecting_plain) => Ok(polled),
        };
        let polled = match polled {
            Ok(polled) => polled,
            Err(stalled) => {
                // A poll cut short may have left half a packet on the connection: it is
                // dropped with everything else.
                if stalled == shared.link.borrow().failures {
                    connected = false;
                    fail_all(
                        &mut event_loop,
                        &shared,
                        crate::errors::stalled(&settings.label),
                    );
                }
                continue;
            }
        };
        match polled {
            Ok(Note::Connected(grant)) => {
                connected = true;
                failures = 0;
                shared.book().wants_link = false;
                shared.link.send_modify(|s| s.link = Link::Up(grant));
            }
            Ok(Note::RefusedExactlyOnce(pkid, refusal, reason)) => {
                answer(&shared, pkid, Err(Failure::Refused(refusal, reason)));
                // rumqttc keeps counting that message as in flight: start over.
                connected = false;
                fail_all(
                    &mut event_loop,
                    &shared,
                    crate::errors::unavailable(
                        &settings.label,
                        "reconnecting after the broker refused a QoS 2 message",
                    ),
                );
            }
            Ok(note) => on_note(&shared, note),
            Err(e) => {
                connected = false;
                fail_all(&mut event_loop, &shared, e);
                failures += 1;
                tokio::time::sleep(backoff(failures)).await;
            }
        }
    }
}

/// Matches one event to the message it concerns.
fn on_note(shared: &Shared, note: Note) {
    match note {
        Note::Sent(pkid) => {
            let mut book = shared.book();
            // A held-back publish is the next one written: no new request is taken before it.
            let Some(mut waiter) = book.collided.take().or_else(|| book.queued.pop_front()) else {
                return;
            };
            waiter.queued = None;
            if pkid == 0 {
                drop(book);
                shared.answered.fetch_add(1, Ordering::Relaxed);
                let _ = waiter.reply.send(Ok(()));
            } else if let Some(stale) = book.file(pkid, waiter) {
                drop(book);
                let _ = stale.reply.send(Err(Failure::Link(ConnectorError::new(
                    ErrorKind::Unavailable,
                    "the MQTT client reused the packet id of an unacknowledged message",
                    "the message is published again when the delivery is retried",
                ))));
            }
        }
        Note::Collided => {
            let mut book = shared.book();
            if let Some(mut waiter) = book.queued.pop_front() {
                waiter.queued = None;
                book.collided = Some(waiter);
            }
        }
        Note::Acked(pkid, None) => answer(shared, pkid, Ok(())),
        Note::Acked(pkid, Some((refusal, reason))) => {
            answer(shared, pkid, Err(Failure::Refused(refusal, reason)))
        }
        Note::Connected(_) | Note::RefusedExactlyOnce(..) | Note::Other => {}
    }
}

fn answer(shared: &Shared, pkid: u16, result: Answer) {
    let waiter = shared.book().take_sent(pkid);
    if let Some(waiter) = waiter {
        shared.answered.fetch_add(1, Ordering::Relaxed);
        let _ = waiter.reply.send(result);
    }
}

/// Ends the connection: every message not yet acknowledged fails with `error`, and rumqttc's
/// queues are emptied in the same step, so none is sent later without its record waiting.
fn fail_all(event_loop: &mut Loop, shared: &Shared, error: ConnectorError) {
    let waiting: Vec<Waiter> = {
        let mut book = shared.book();
        event_loop.reset();
        book.wants_link = false;
        let collided = book.collided.take();
        let sent: Vec<Waiter> = book.sent.iter_mut().filter_map(Option::take).collect();
        book.queued.drain(..).chain(collided).chain(sent).collect()
    };
    shared.link.send_modify(|s| {
        s.link = Link::Down(error.clone());
        s.failures += 1;
    });
    for waiter in waiting {
        let _ = waiter.reply.send(Err(Failure::Link(error.clone())));
    }
}
