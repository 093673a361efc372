//! The out-of-hours auto-reply: a visitor who writes while the team is closed gets the license's
//! auto-reply text once per conversation per local day, as a system message, on any channel.

use super::{ConversationActor, Post};
use crate::domain::{BusinessHours, MessageKind, Sender};
use crate::store::NewMessage;
use actix::prelude::*;
use std::time::{Duration, Instant};

/// How long a conversation trusts the business hours it read (a change reaches it within this).
const HOURS_TTL: Duration = Duration::from_secs(60);

/// A visitor message was stored: answer it if the team is closed and it has not been answered today.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct CheckHours;

impl Handler<CheckHours> for ConversationActor {
    type Result = ();

    fn handle(&mut self, _: CheckHours, ctx: &mut Self::Context) {
        let cached = self.hours.as_ref().filter(|(read, _)| read.elapsed() < HOURS_TTL).map(|(_, h)| h.clone());
        let store = self.store.clone();
        let license = self.conversation.license_key.clone();
        let id = self.conversation.id.clone();
        let addr = ctx.address();
        // Detached from the actor: its store calls must not hold a connection while the actor's own
        // writes (which stop the actor's other futures) wait for one.
        tokio::spawn(async move {
            let checked = async {
                let hours = match cached {
                    Some(hours) => hours,
                    None => store.business_hours(&license).await?,
                };
                let now = chrono::Utc::now();
                let due = !hours.is_open(now) && !hours.auto_reply.trim().is_empty();
                // Claimed in the store, so two nodes (or a restarted actor) answer once a day between them.
                let day = hours.local_day(now);
                let claimed = due && store.claim_auto_reply(&license, &id, &day).await?;
                Ok::<_, crate::store::StoreError>((hours, claimed.then_some(day)))
            };
            match checked.await {
                Ok((hours, day)) => {
                    if let Some(day) = day {
                        addr.do_send(Post { message: auto_reply(hours.auto_reply.clone(), &day), origin: None });
                    }
                    addr.do_send(RememberHours(hours));
                }
                Err(err) => tracing::warn!(%err, conversation = %id, "out-of-hours check failed"),
            }
        });
    }
}

/// The business hours a check read, kept for [`HOURS_TTL`].
#[derive(Message)]
#[rtype(result = "()")]
struct RememberHours(BusinessHours);

impl Handler<RememberHours> for ConversationActor {
    type Result = ();

    fn handle(&mut self, RememberHours(hours): RememberHours, _: &mut Self::Context) {
        self.hours = Some((Instant::now(), hours));
    }
}

/// The auto-reply of `day`: its client id makes a second one for the same day a duplicate.
fn auto_reply(text: String, day: &str) -> NewMessage {
    NewMessage {
        sender: Sender::System,
        kind: MessageKind::Text,
        text,
        client_msg_id: Some(format!("auto-reply-{day}")),
        author_id: None,
        delivery: None,
    }
}

/// What a conversation remembers of its license's business hours, and since when.
pub(super) type CachedHours = Option<(Instant, BusinessHours)>;
