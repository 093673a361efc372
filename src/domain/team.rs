//! Who a dashboard user is within their license: roles, what each role may do, availability, mentions.
//!
//! The permission table is the one place a role's rights are written; HTTP handlers and socket emits
//! both ask [`Role::can`], so a transport cannot grant more than another.

use super::Tier;

wire_enum!(
    /// What a dashboard user may do within their license, from most to least trusted.
    Role("role") {
        /// Registered the license; cannot be removed or demoted.
        Owner = "owner",
        /// Manages the team, keys, integrations and settings.
        Admin = "admin",
        /// Assigns conversations; manages canned answers and labels.
        Manager = "manager",
        /// Answers, notes, labels and closes conversations.
        Member = "member",
        /// Reads only.
        Viewer = "viewer",
    }
);

wire_enum!(
    /// One right a role may hold; see [`Role::can`] for the table.
    Permission("permission") {
        /// Read conversations, messages, members, labels and canned answers; receive live events.
        Read = "read",
        /// Reply, write notes, close and reopen, mark read, type, label conversations, self-assign.
        Answer = "answer",
        /// Assign conversations to anyone, unassign others.
        Assign = "assign",
        /// Create, edit and delete canned answers and labels.
        ManageContent = "manage_content",
        /// Invite, change roles, deactivate members.
        ManageTeam = "manage_team",
        /// Product keys, integrations, widget settings.
        ManageSettings = "manage_settings",
    }
);

impl Role {
    /// Larger is more trusted: owner 4 … viewer 0.
    pub fn rank(self) -> u8 {
        match self {
            Self::Owner => 4,
            Self::Admin => 3,
            Self::Manager => 2,
            Self::Member => 1,
            Self::Viewer => 0,
        }
    }

    /// Whether this role holds `permission`: each permission needs a minimum role.
    pub fn can(self, permission: Permission) -> bool {
        self.rank() >= permission.least_role().rank()
    }

    /// Whether someone with this role may invite, re-role or deactivate a member whose role is `other`
    /// (or grant `other`): only roles strictly below one's own, so admins cannot make admins or touch the owner.
    pub fn manages(self, other: Role) -> bool {
        self.can(Permission::ManageTeam) && self.rank() > other.rank()
    }
}

impl Permission {
    /// The least trusted role that holds this permission.
    pub fn least_role(self) -> Role {
        match self {
            Self::Read => Role::Viewer,
            Self::Answer => Role::Member,
            Self::Assign | Self::ManageContent => Role::Manager,
            Self::ManageTeam | Self::ManageSettings => Role::Admin,
        }
    }
}

wire_enum!(
    /// The status a member chooses; they are only *available* while also connected.
    Availability("availability") {
        /// Takes conversations.
        Online = "online",
        /// Connected but not taking new conversations.
        Busy = "busy",
        /// Away.
        Offline = "offline",
    }
);

wire_enum!(
    /// How a new conversation finds an assignee.
    AutoAssignment("auto-assignment mode") {
        /// Nobody is assigned until someone takes it.
        Off = "off",
        /// Available members in turn.
        RoundRobin = "round_robin",
        /// The available member with the fewest open conversations.
        LeastOpen = "least_open",
    }
);

impl Tier {
    /// Most active members (the owner included) a license of this tier may have.
    pub fn member_limit(self) -> i64 {
        match self {
            Self::Free => 3,
            Self::Basic => 10,
            Self::Pro => 50,
            Self::Enterprise => 500,
        }
    }
}

/// Whether `text` @mentions the member with address `email`: `@ana@acme.com`, or `@ana` (the local part)
/// followed by a space, punctuation or the end. Case does not matter.
pub fn mentions(text: &str, email: &str) -> bool {
    let text = text.to_lowercase();
    let email = email.to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    text.match_indices('@').any(|(at, _)| {
        let after = &text[at + 1..];
        let whole_word = |name: &str| {
            !name.is_empty()
                && after.starts_with(name)
                && after[name.len()..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || "._-+@".contains(c)))
        };
        // An earlier '@' inside a word is an address, not a mention.
        let starts_word = text[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        starts_word && (whole_word(&email) || whole_word(local))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_match_the_address_or_its_local_part_as_a_whole_word() {
        assert!(mentions("ping @ana, please look", "ana@acme.com"));
        assert!(mentions("@Ana@Acme.com can you?", "ana@acme.com"));
        assert!(mentions("thanks @ana", "ana@acme.com"));
        assert!(!mentions("@anabel look", "ana@acme.com"));
        assert!(!mentions("mail bob@ana.com", "ana@acme.com"));
        assert!(!mentions("no mention here", "ana@acme.com"));
    }

    #[test]
    fn the_permission_table_grows_with_the_role() {
        let holders = |p: Permission| Role::ALL.iter().filter(|r| r.can(p)).count();
        assert_eq!(holders(Permission::Read), 5);
        assert_eq!(holders(Permission::Answer), 4);
        assert_eq!(holders(Permission::Assign), 3);
        assert_eq!(holders(Permission::ManageContent), 3);
        assert_eq!(holders(Permission::ManageTeam), 2);
        assert!(!Role::Viewer.can(Permission::Answer));
        assert!(Role::Owner.manages(Role::Admin));
        assert!(!Role::Admin.manages(Role::Admin));
        assert!(!Role::Manager.manages(Role::Viewer));
    }

    #[test]
    fn member_limits_follow_the_tier_table() {
        let limits: Vec<i64> = Tier::ALL.iter().map(|t| t.member_limit()).collect();
        assert_eq!(limits, [3, 10, 50, 500]);
    }
}
