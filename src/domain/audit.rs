//! The audit trail's vocabulary: who acted (actor kinds) and what they did (actions).

wire_enum!(
    /// What kind of principal performed an audited action.
    ActorKind("actor kind") {
        /// A dashboard user (the id is their user id).
        User = "user",
        /// A tenant's backend, through an API key (the id is the key's id).
        ApiKey = "api_key",
        /// The operator, through the admin API or the CLI (the id says which).
        Admin = "admin",
        /// The server itself.
        System = "system",
    }
);

wire_enum!(
    /// An audited action. Names are `<object>.<verb>`, except the session events.
    AuditAction("audit action") {
        /// A dashboard login succeeded.
        LoginSucceeded = "login.succeeded",
        /// A dashboard login was refused (wrong password, unknown address, suspended license).
        LoginFailed = "login.failed",
        /// A dashboard session was ended.
        Logout = "logout",
        /// A license's owner account was created.
        Register = "register",
        /// A product key was issued.
        ProductKeyCreated = "product_key.created",
        /// A product key was revoked.
        ProductKeyRevoked = "product_key.revoked",
        /// An API key was created.
        ApiKeyCreated = "api_key.created",
        /// An API key was revoked.
        ApiKeyRevoked = "api_key.revoked",
        /// A license was issued.
        LicenseCreated = "license.created",
        /// A license was suspended.
        LicenseSuspended = "license.suspended",
        /// A license was reinstated.
        LicenseActivated = "license.activated",
        /// A Messenger page or WhatsApp number was connected.
        IntegrationConnected = "integration.connected",
        /// A Messenger page or WhatsApp number was disconnected.
        IntegrationDisconnected = "integration.disconnected",
        /// The widget configuration (target `widget_config`) or the team settings (`team_settings`) were replaced.
        SettingsUpdated = "settings.updated",
        /// Someone was invited to the team.
        MemberInvited = "member.invited",
        /// A pending invitation was revoked.
        InvitationRevoked = "invitation.revoked",
        /// An invitation was accepted: a new member joined.
        MemberJoined = "member.joined",
        /// A member's role changed.
        MemberRoleChanged = "member.role_changed",
        /// A member was deactivated.
        MemberDeactivated = "member.deactivated",
        /// The license's security policy was replaced.
        SecurityPolicyUpdated = "security_policy.updated",
        /// A member turned two-factor authentication on.
        TwoFactorEnabled = "two_factor.enabled",
        /// A member turned two-factor authentication off.
        TwoFactorDisabled = "two_factor.disabled",
        /// A member changed their password.
        PasswordChanged = "password.changed",
        /// An outgoing webhook endpoint was created.
        WebhookEndpointCreated = "webhook_endpoint.created",
        /// An outgoing webhook endpoint's URL, events, description or `enabled` changed.
        WebhookEndpointUpdated = "webhook_endpoint.updated",
        /// An outgoing webhook endpoint was deleted.
        WebhookEndpointDeleted = "webhook_endpoint.deleted",
        /// An outgoing webhook endpoint's signing secret was rotated.
        WebhookSecretRotated = "webhook_endpoint.secret_rotated",
        /// The server disabled an endpoint that kept failing (actor `system`).
        WebhookEndpointDisabled = "webhook_endpoint.disabled",
        /// The license's data-retention period was set or cleared.
        DataRetentionUpdated = "data_retention.updated",
        /// One contact and all their conversations were erased (right to deletion); target: the contact id.
        ContactErased = "contact.erased",
        /// One contact's data was exported; target: the contact id.
        ContactExported = "contact.exported",
    }
);
