//! Actors own the live state. One [`ConversationActor`] per live conversation orders its messages,
//! persists them and fans them out; one [`TenantActor`] per license tracks who is online. The
//! [`Registry`] spawns them on demand (rehydrating from the store), and they stop when idle.

mod agent;
mod conversation;
mod message_rate;
mod outbound;
mod presence;
mod registry;
mod tenant;

pub use agent::{agent_conversation, agent_member, agent_message, AgentError, Teammate};
pub use conversation::{
    CaptureLead, ConversationActor, ConversationUpdate, Erase, MergeMetadata, Post, Rate, RateReply, Read, Remote,
    SetAssignee, SetStatus, Settle, SharedOpener, SharedWriter, Typing, Unwatch, Watch, WATCHER_QUEUE,
};
pub use outbound::{Destination, Dispatch};
pub use presence::Presence;
pub use registry::{Registry, RegistryError};
pub use tenant::{
    DashboardPresence, GetTenantStats, HoursChanged, MemberChanged, TeamView, TenantActor, TenantStats,
    VisitorConnected, VisitorDisconnected, WidgetTeamStatus,
};
