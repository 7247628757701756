//! Which mail server software a banner names, and what to change in it when
//! it relays. The guess only picks advice; nothing else depends on it.

use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Software {
    Postfix,
    Exim,
    Sendmail,
    Exchange,
    OpenSmtpd,
    Qmail,
    #[default]
    Other,
}

crate::de::deserialize_by_name!(Software {
    Postfix = "postfix", Exim = "exim", Sendmail = "sendmail", Exchange = "exchange",
    OpenSmtpd = "opensmtpd", Qmail = "qmail", Other = "other",
});

impl Software {
    /// Guesses from the banner and the EHLO greeting line, which often say
    /// more than the banner (Exchange, for one, hides in its banner).
    pub fn recognise(texts: &[&str]) -> Software {
        let all = texts.join(" ").to_ascii_lowercase();
        let has = |s: &str| all.contains(s);
        if has("postfix") {
            Software::Postfix
        } else if has("exim") {
            Software::Exim
        } else if has("sendmail") {
            Software::Sendmail
        } else if has("microsoft esmtp") || has("exchange") || has("microsoft") {
            Software::Exchange
        } else if has("opensmtpd") {
            Software::OpenSmtpd
        } else if has("qmail") || has("netqmail") {
            Software::Qmail
        } else {
            Software::Other
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Software::Postfix => "Postfix",
            Software::Exim => "Exim",
            Software::Sendmail => "Sendmail",
            Software::Exchange => "Microsoft Exchange",
            Software::OpenSmtpd => "OpenSMTPD",
            Software::Qmail => "qmail",
            Software::Other => "an unrecognised mail server",
        }
    }

    /// What to change so that the server stops relaying for strangers.
    pub fn advice(self) -> &'static [&'static str] {
        match self {
            Software::Postfix => &[
                "In main.cf, set smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination.",
                "Keep mynetworks to the addresses of your own hosts (for example 127.0.0.0/8 [::1]/128); never 0.0.0.0/0 or a whole provider range.",
                "Check that relay_domains lists only domains you really relay for, and that no -o override in master.cf loosens the restrictions on another port.",
                "Run postfix reload, then test again.",
            ],
            Software::Exim => &[
                "Set relay_from_hosts (hostlist) to your own networks only, and domainlist relay_to_domains to the domains you relay for.",
                "In acl_smtp_rcpt keep the rule that ends with deny message = relay not permitted for recipients that are neither local nor in relay_to_domains.",
                "On Debian, run update-exim4.conf (dc_relay_nets, dc_relay_domains) and restart Exim, then test again.",
            ],
            Software::Sendmail => &[
                "Remove FEATURE(`promiscuous_relay') and FEATURE(`relay_based_on_MX') from sendmail.mc if present.",
                "List only your own networks with RELAY in /etc/mail/access, and only your relay domains in relay-domains.",
                "Rebuild sendmail.cf and the access map (make -C /etc/mail), restart Sendmail, then test again.",
            ],
            Software::Exchange => &[
                "On the receive connector (or, on older versions, the SMTP virtual server's Access tab → Relay): choose \"Only the list below\" and leave the list empty or with your own servers.",
                "List IP addresses, never domains: a domain entry trusts whoever controls its reverse DNS.",
                "Untick \"Allow all computers which successfully authenticate to relay\" unless users really need it, and then only with strong passwords.",
                "Do this on every SMTP virtual server / receive connector, and on every Exchange server separately: each one relays on its own.",
            ],
            Software::OpenSmtpd => &[
                "In smtpd.conf, relay only from local or authenticated sources: action \"relay\" relay; match from local for any action \"relay\" (or match auth from any).",
                "Make sure no rule says match from any for any action \"relay\"; then restart smtpd and test again.",
            ],
            Software::Qmail => &[
                "Only clients with RELAYCLIENT set may relay: check /etc/tcp.smtp (or tcprules' cdb) for broad allow,RELAYCLIENT=\"\" lines and rebuild the cdb.",
                "Keep control/rcpthosts to the domains you accept mail for; an empty or missing rcpthosts makes qmail an open relay.",
            ],
            Software::Other => &[
                "Allow relaying only for your own networks and for users who authenticate; refuse every other recipient outside your own domains with a 5xx reply (550 5.7.1 is usual).",
                "Check every listener (25, 465, 587) and every server behind the same name separately.",
            ],
        }
    }

    /// What to change so that the server refuses mailboxes that do not exist
    /// at RCPT time, instead of accepting them and bouncing later
    /// (backscatter to forged senders).
    pub fn catch_all_advice(self) -> &'static [&'static str] {
        match self {
            Software::Postfix => &[
                "Keep smtpd_reject_unlisted_recipient = yes (the default) and make sure local_recipient_maps is not empty, so that unknown local users are refused with 550.",
                "For virtual domains, list every mailbox in virtual_mailbox_maps or virtual_alias_maps; remove catch-all entries such as @example.org.",
            ],
            Software::Exim => &[
                "In acl_smtp_rcpt, require verify = recipient for local domains (Debian's default config does), and remove catch-all redirect routers such as a wildcard alias file entry.",
            ],
            Software::Sendmail => &[
                "Remove catch-all entries (@example.org) from virtusertable and make sure unknown local users are refused; FEATURE(`ldap_routing') and mailertable setups must look the user up before accepting.",
            ],
            Software::Exchange => &[
                "Turn on recipient filtering (Set-RecipientFilterConfig -RecipientValidationEnabled $true) so that unknown recipients are refused at RCPT, and remove catch-all transport rules.",
            ],
            Software::OpenSmtpd => &[
                "Match local delivery only for recipients in a table of real users (match for rcpt-to <users> …), not for any local part of the domain.",
            ],
            Software::Qmail => &[
                "qmail accepts every local part by design; add a recipient check (the RCPTCHECK or validrcptto patch, or a qmail-spp plugin) so that unknown users are refused at RCPT.",
            ],
            Software::Other => &[
                "Refuse mailboxes that do not exist during the SMTP dialogue (550 5.1.1 at RCPT) instead of accepting them and bouncing later: the bounces go to forged senders (backscatter) and get servers listed too.",
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_banners() {
        let cases = [
            ("mx.example.org ESMTP Postfix (Debian/GNU)", Software::Postfix),
            ("mail.example.org ESMTP Exim 4.96 Mon, 01 Jan 2024", Software::Exim),
            ("mail.example.org ESMTP Sendmail 8.17.1/8.17.1", Software::Sendmail),
            ("EX01.corp.example Microsoft ESMTP MAIL Service ready", Software::Exchange),
            ("mail.example.org ESMTP OpenSMTPD", Software::OpenSmtpd),
            ("mail.example.org ESMTP", Software::Other),
        ];
        for (banner, want) in cases {
            assert_eq!(Software::recognise(&[banner]), want, "{banner}");
        }
    }
}
