//! Satisfaction ratings: the widget rates a closed conversation with a frame; Messenger and WhatsApp
//! conversations are asked in text when they close ([`CSAT_QUESTION`], once per conversation) and a
//! reply that reads as a rating ([`crate::domain::CsatReply`]) is recorded through the same path.

use super::{ConversationActor, Post};
use crate::bus::{Activity, Event};
use crate::domain::{Channel, ConversationStatus, CsatReply, MessageKind, Sender, CSAT_QUESTION, CSAT_QUESTION_ID};
use crate::store::{NewMessage, StoreError};
use actix::prelude::*;
use std::time::Instant;

/// The visitor rates the closed conversation (1–5, with an optional comment), once. Answers whether it
/// was taken: `false` when the conversation is open or already rated.
#[derive(Message, Clone)]
#[rtype(result = "Result<bool, StoreError>")]
pub struct Rate {
    /// 1 to 5.
    pub rating: i64,
    /// What the visitor added.
    pub comment: Option<String>,
}

impl Handler<Rate> for ConversationActor {
    type Result = AtomicResponse<Self, Result<bool, StoreError>>;

    fn handle(&mut self, rate: Rate, _: &mut Self::Context) -> Self::Result {
        self.rate(rate, None)
    }
}

/// A Messenger or WhatsApp reply that reads as a rating. Answers `true` when it was recorded (or is a
/// provider's redelivery of the reply that was), `false` when it is an ordinary message.
#[derive(Message, Clone)]
#[rtype(result = "Result<bool, StoreError>")]
pub struct RateReply {
    /// The rating it carries.
    pub reply: CsatReply,
    /// The provider's message id.
    pub provider_msg_id: String,
}

impl Handler<RateReply> for ConversationActor {
    type Result = AtomicResponse<Self, Result<bool, StoreError>>;

    fn handle(&mut self, RateReply { reply, provider_msg_id }: RateReply, _: &mut Self::Context) -> Self::Result {
        if self.conversation.status != ConversationStatus::Closed {
            return AtomicResponse::new(Box::pin(fut::ready(Ok(false))));
        }
        if self.conversation.csat_rating.is_none() {
            return self.rate(Rate { rating: reply.rating, comment: reply.comment }, Some(provider_msg_id));
        }
        let store = self.store.clone();
        let license = self.conversation.license_key.clone();
        let id = self.conversation.id.clone();
        AtomicResponse::new(Box::pin(
            async move { store.rated_from(&license, &id, &provider_msg_id).await }.into_actor(self),
        ))
    }
}

impl ConversationActor {
    /// Stores a rating and tells the dashboards; `source` is the channel reply that carried it.
    fn rate(&mut self, rate: Rate, source: Option<String>) -> AtomicResponse<Self, Result<bool, StoreError>> {
        self.last_active = Instant::now();
        let store = self.store.clone();
        let license = self.conversation.license_key.clone();
        let id = self.conversation.id.clone();
        AtomicResponse::new(Box::pin(
            async move {
                store.rate_conversation(&license, &id, rate.rating, rate.comment.as_deref(), source.as_deref()).await
            }
            .into_actor(self)
            .map(|stored, act, _| {
                let Some(stored) = stored? else { return Ok(false) };
                act.conversation.csat_rating = stored.csat_rating;
                act.conversation.csat_comment = stored.csat_comment.clone();
                act.publish(Event::Activity(Activity::CsatReceived {
                    conversation_id: stored.id,
                    rating: stored.csat_rating.unwrap_or_default(),
                    comment: stored.csat_comment,
                }));
                Ok(true)
            }),
        ))
    }

    /// After this node closed the conversation: a Messenger or WhatsApp contact who has not rated it is
    /// asked in text. The question's client id makes a later close a duplicate, so it goes out once.
    pub(super) fn ask_rating(&self, ctx: &mut Context<Self>) {
        if self.conversation.channel == Channel::Widget || self.conversation.csat_rating.is_some() {
            return;
        }
        let question = NewMessage {
            sender: Sender::System,
            kind: MessageKind::Text,
            text: CSAT_QUESTION.to_owned(),
            client_msg_id: Some(CSAT_QUESTION_ID.to_owned()),
            author_id: None,
            delivery: None,
        };
        ctx.notify(Post { message: question, origin: None });
    }
}
