//! Which mail server software a banner names (for Microsoft's, which
//! generation), its version when the banner gives one, and what to change in
//! it when it relays. The guess only picks words and advice; nothing else
//! depends on it.

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

/// Which of Microsoft's SMTP servers answered. They all say "Microsoft
/// ESMTP MAIL Service" or close to it, but each generation keeps its relay
/// settings in a different place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Generation {
    /// Exchange 5.5 (and 5.0): the Internet Mail Service, set up in the
    /// Exchange Administrator program.
    Exchange55,
    /// Exchange 2000 and 2003: SMTP virtual servers of Windows' IIS SMTP
    /// service (Windows 2000 or Server 2003), set up in Exchange System
    /// Manager. The banner cannot tell them from the IIS SMTP service alone
    /// unless the EHLO reply shows Exchange's own verbs.
    Exchange2000,
    /// The IIS SMTP service alone, on a Windows where Exchange 2000/2003
    /// cannot run (its banner says version 7.0 or later from Windows Server
    /// 2008 on): IIS 6.0 Manager's virtual servers.
    IisSmtp,
    /// Exchange 2007 to 2019 and Subscription Edition: receive connectors.
    Exchange2007,
    /// Exchange Online (Microsoft 365): inbound connectors.
    ExchangeOnline,
}

crate::de::deserialize_by_name!(Generation {
    Exchange55 = "exchange55", Exchange2000 = "exchange2000", IisSmtp = "iis_smtp",
    Exchange2007 = "exchange2007", ExchangeOnline = "exchange_online",
});

/// What answered, as closely as its banner and EHLO reply say.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub software: Software,
    /// For Microsoft's servers, which generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<Generation>,
    /// A name for people: "Sendmail", "Microsoft Exchange 2007–2019/SE
    /// (receive connectors)"; `None` when the software is not recognised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// The version the banner gives (`8.17.1`, `5.5.2653.13`); for Exchange
    /// 2000/2003 and IIS, the version of Windows' SMTP service
    /// (`6.0.3790.3959`). `None` when the banner gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

crate::de::deserialize_from_map!(Identity { software, generation, product, version });

impl From<Software> for Identity {
    /// Only the software, for reports that say no more.
    fn from(software: Software) -> Identity {
        let product = (software != Software::Other).then(|| software.name().to_string());
        Identity { software, generation: None, product, version: None }
    }
}

impl Identity {
    /// Recognises the software from the banner and the EHLO reply, which
    /// often say more than the banner (Exchange, for one, hides in its
    /// banner when an administrator customised it). Each text is a reply's
    /// text, or its wire lines with their codes; each one's first word, the
    /// server's own name, names no product (`exim.example.org ESMTP Postfix`
    /// is Postfix) but tells Exchange Online apart.
    pub fn recognise(texts: &[&str]) -> Identity {
        let words = Words::read(texts);
        let software = if words.has("postfix") {
            Software::Postfix
        } else if words.has("exim") {
            Software::Exim
        } else if words.has("sendmail") {
            Software::Sendmail
        } else if words.has("microsoft") || words.has("exchange") || words.any(EXCHANGE_VERBS) {
            Software::Exchange
        } else if words.has("opensmtpd") {
            Software::OpenSmtpd
        } else if words.has("qmail") || words.has("netqmail") {
            Software::Qmail
        } else {
            Software::Other
        };
        match software {
            Software::Exchange => exchange(&words),
            Software::Other => Identity::default(),
            Software::Qmail if words.has("netqmail") => Identity {
                product: Some("netqmail".into()),
                version: words.version_after("netqmail"),
                ..Identity::from(software)
            },
            _ => {
                let name = software.name().to_ascii_lowercase();
                Identity { version: words.version_after(&name), ..Identity::from(software) }
            }
        }
    }

    /// The product and its version in a few words: "Sendmail 8.17.1",
    /// "Microsoft Exchange 5.5 (Internet Mail Service), version 5.5.2653.13".
    pub fn label(&self) -> String {
        let name = self.product.clone().unwrap_or_else(|| self.software.name().to_string());
        match (&self.version, self.generation) {
            (None, _) => name,
            (Some(v), Some(Generation::Exchange2000 | Generation::IisSmtp)) => format!("{name}, SMTP service {v}"),
            (Some(v), Some(_)) => format!("{name}, version {v}"),
            (Some(v), None) => format!("{name} {v}"),
        }
    }

    /// What to change so that the server stops relaying for strangers: for
    /// Exchange, in the generation's own tool; otherwise as
    /// [`Software::advice`].
    pub fn advice(&self) -> &'static [&'static str] {
        match self.generation {
            Some(generation) => generation.advice(),
            None => self.software.advice(),
        }
    }

    /// As [`Software::catch_all_advice`], except for the Microsoft servers
    /// where its cmdlet does not exist (before Exchange 2007, IIS) or does
    /// not apply (Exchange Online): the general advice instead.
    pub fn catch_all_advice(&self) -> &'static [&'static str] {
        match self.generation {
            Some(Generation::Exchange2007) | None => self.software.catch_all_advice(),
            Some(_) => Software::Other.catch_all_advice(),
        }
    }

    /// The setting that usually opens the hole a relay probe found, named
    /// for this software (and Exchange generation); see
    /// [`Software::hole_advice`].
    pub fn hole_advice(&self, probe_id: &str) -> &'static [&'static str] {
        match (self.software, self.generation, Hole::of(probe_id)) {
            (Software::Exchange, Some(generation), Some(hole)) => generation.hole_advice(hole),
            _ => self.software.hole_advice(probe_id),
        }
    }
}

impl Generation {
    /// What to change, where this generation keeps its relay settings.
    pub fn advice(self) -> &'static [&'static str] {
        match self {
            Generation::Exchange55 => &[
                "In the Exchange Administrator program, open Configuration → Connections → Internet Mail Service → Properties → Routing tab and choose \"Do not reroute incoming SMTP mail\", unless POP3 and IMAP4 clients send their mail through this server.",
                "If it must reroute (\"Reroute incoming SMTP mail\"), click Routing Restrictions (Exchange 5.5 Service Pack 1 and later) and let only \"Hosts and clients that successfully authenticate\" and the IP addresses of your own hosts route mail; nobody else.",
                "Install Service Pack 4: earlier builds reroute some encapsulated addresses despite these settings (Microsoft KB Q237927, Q264330).",
                "Do this on every Internet Mail Service of every site, then test again. Exchange 5.5 has been unsupported for many years: plan to replace it.",
            ],
            Generation::Exchange2000 => &[
                "In Exchange System Manager, open Servers → SERVER → Protocols → SMTP → Default SMTP Virtual Server → Properties (under Administrative Groups → GROUP first when administrative groups are shown), then the Access tab → Relay.",
                "Choose \"Only the list below\", and leave the list empty or add only your own hosts, by IP address (single computer or group of computers), never by domain: a domain entry trusts whoever controls the reverse DNS of the connecting address.",
                "Untick \"Allow all computers which successfully authenticate to relay, regardless of the list above\" unless your users send through this server, and then only with strong passwords: a guessed password makes it a relay again.",
                "Under Routing Groups → GROUP → Connectors, no SMTP connector's Address Space tab may tick \"Allow messages to be relayed to these domains\" for the * address space.",
                "Do this on every SMTP virtual server and on every Exchange server separately: each one relays on its own. Then test again.",
            ],
            Generation::IisSmtp => &[
                "This is Windows' own SMTP service, not Exchange. In Internet Information Services (IIS) 6.0 Manager, open the SMTP virtual server (SMTP Virtual Server #1 by default) → Properties → Access tab → Relay.",
                "Choose \"Only the list below\" and list only your own hosts, by IP address, never by domain: a domain entry trusts whoever controls the reverse DNS of the connecting address.",
                "Untick \"Allow all computers which successfully authenticate to relay, regardless of the list above\" unless your applications authenticate, and then only with strong passwords.",
                "Do this on every SMTP virtual server and every Windows server that runs the service, then test again.",
            ],
            Generation::Exchange2007 => &[
                "In the Exchange Management Shell, find the receive connectors that let anonymous sessions relay: Get-ReceiveConnector | Get-ADPermission -User \"NT AUTHORITY\\ANONYMOUS LOGON\" | Where-Object {$_.ExtendedRights -like \"*Any-Recipient*\"} (the account's name is in Windows' language, for example NT-AUTORITÄT\\ANONYMOUS-ANMELDUNG).",
                "Remove that right from each connector listed: Remove-ADPermission -Identity \"SERVER\\CONNECTOR\" -User \"NT AUTHORITY\\ANONYMOUS LOGON\" -ExtendedRights ms-Exch-SMTP-Accept-Any-Recipient (or end the line above with | Remove-ADPermission).",
                "A connector that must relay for printers or applications: make it a connector of its own and keep its RemoteIPRanges to those hosts (Set-ReceiveConnector \"SERVER\\CONNECTOR\" -RemoteIPRanges 192.0.2.10,192.0.2.11), never 0.0.0.0-255.255.255.255. The same for any connector whose AuthMechanism is ExternalAuthoritative (\"Externally secured\"): it trusts every address in its RemoteIPRanges fully.",
                "Check the connectors of every Exchange server (Get-ReceiveConnector lists them all; -Server NAME for one): each server relays on its own. Then test again.",
            ],
            Generation::ExchangeOnline => &[
                "Exchange Online relays to the Internet only mail that one of your inbound connectors attributes to your organisation: in the Exchange admin center, open Mail flow → Connectors and look at every connector from \"Your organization's email server\".",
                "Each must recognise your own servers by their own IP addresses (a few, never a provider's whole range) or by the certificate subject name they present over TLS. In Exchange Online PowerShell: Get-InboundConnector | Format-List Name,ConnectorType,SenderIPAddresses,TlsSenderCertificateName (ConnectorType OnPremises are those from your organisation).",
                "An \"open relay\" here usually means such an on-premises connector trusting too much; connectors from a partner organisation only add restrictions (TLS, the partner's IP addresses or domains) to that partner's mail.",
                "If this check ran from a network your connectors list, Exchange Online was right to relay for it: test again from an address they do not list.",
            ],
        }
    }

    fn hole_advice(self, hole: Hole) -> &'static [&'static str] {
        match (self, hole) {
            (Generation::Exchange55, Hole::Greeting) => &[
                "Exchange 5.5's routing restrictions look at the connecting host (its IP address, the address it connects to, or its authentication), never at the HELO name: something else decided on the greeting, such as a gateway in front of the server.",
            ],
            (Generation::Exchange55, Hole::Sender) => &[
                "Exchange 5.5's routing restrictions look at the connecting host (its IP address, the address it connects to, or its authentication), never at the sender: a relay that depends on the sender comes from something else, such as a gateway in front of the server; check its sender allow-lists.",
            ],
            (Generation::Exchange2000 | Generation::IisSmtp, Hole::Greeting) => &[
                "An SMTP virtual server's Relay list looks at the connecting computer (its IP address, or its domain through reverse DNS) and at authentication, never at the HELO name: something else decided on the greeting, such as a gateway in front of the server.",
            ],
            (Generation::Exchange2000 | Generation::IisSmtp, Hole::Sender) => &[
                "An SMTP virtual server's Relay list looks at the connecting computer (its IP address, or its domain through reverse DNS) and at authentication, never at the sender: a relay that depends on the sender comes from something else, such as a gateway in front of the server; check its sender allow-lists.",
            ],
            (Generation::Exchange2007, Hole::Greeting) => &[
                "Exchange grants relaying per session, by the ms-Exch-SMTP-Accept-Any-Recipient right of the receive connector that took the connection (chosen by the client's address, RemoteIPRanges), never by the HELO name: something else decided on the greeting, such as a gateway or transport agent in front of Exchange.",
            ],
            (Generation::Exchange2007, Hole::Sender) => &[
                "Exchange grants relaying per session, by the ms-Exch-SMTP-Accept-Any-Recipient right of the receive connector that took the connection, never by the sender; ms-Exch-SMTP-Accept-Authoritative-Domain-Sender only decides whether an anonymous sender in your own domains is taken at all.",
                "A relay that depends on the sender comes from something else, such as a gateway or transport agent in front of Exchange: check its sender allow-lists, and still check the anonymous right as above.",
            ],
            (Generation::ExchangeOnline, Hole::Greeting) => &[
                "Exchange Online's inbound connectors recognise your servers by IP address or certificate, never by the HELO name: check the connectors' SenderIPAddresses for a range that includes the address this check came from.",
            ],
            (Generation::ExchangeOnline, Hole::Sender) => &[
                "Exchange Online's inbound connectors recognise your servers by IP address or certificate; SenderDomains only narrows which senders a connector applies to. Check the connectors' SenderIPAddresses for a range that includes the address this check came from.",
            ],
            _ => &[],
        }
    }
}

/// The kinds of relay hole the probes look for, by probe id (see
/// `probe::plan`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hole {
    /// A forged greeting: `helo-*`.
    Greeting,
    /// A sender that looks local: `sender-*`, `spoofed-local-sender`.
    Sender,
    /// `user%site@here`: `percent-*`, `ipv6-literal`.
    Percent,
    /// `site!user@here`: `bang*`.
    Bang,
    /// `@here:user@site`: `source-route-*`.
    SourceRoute,
    /// Quotes and extra `@`s: `quoted*`, `double-at-*`.
    Quoted,
}

impl Hole {
    fn of(probe_id: &str) -> Option<Hole> {
        Some(match probe_id {
            "helo-server-name" | "helo-address-literal" | "helo-localhost" => Hole::Greeting,
            "sender-in-audited-domain" | "spoofed-local-sender" | "sender-at-server" | "sender-at-ip" => Hole::Sender,
            "ipv6-literal" => Hole::Percent,
            "bang" => Hole::Bang,
            "quoted" | "quoted-percent" | "quoted-at-ip" => Hole::Quoted,
            id if id.starts_with("percent-") => Hole::Percent,
            id if id.starts_with("bang-") => Hole::Bang,
            id if id.starts_with("source-route-") => Hole::SourceRoute,
            id if id.starts_with("double-at-") => Hole::Quoted,
            _ => return None,
        })
    }
}

/// EHLO verbs only Exchange advertises (and the IIS SMTP service once
/// Exchange 2000/2003 extends it).
const EXCHANGE_VERBS: &[&str] =
    &["xexch50", "x-exps", "x-link2state", "x-anonymoustls", "xrdst", "xshadow", "xshadowrequest"];
/// EHLO verbs of Exchange 2007 and later.
const EXCHANGE_2007_VERBS: &[&str] = &["x-anonymoustls", "xrdst", "xshadow", "xshadowrequest"];
/// The parents of Exchange Online's host names (worldwide, its US
/// government cloud, and the ones 21Vianet and Germany ran).
const ONLINE_HOSTS: &[&str] = &[".outlook.com", ".office365.com", ".office365.us", ".outlook.cn", ".outlook.de"];

/// Which generation of Exchange (or IIS) the words show, with its version.
fn exchange(words: &Words) -> Identity {
    let identity = |generation, product: &str, version: Option<String>| Identity {
        software: Software::Exchange,
        generation: Some(generation),
        product: Some(product.to_string()),
        version,
    };
    // 220 host ESMTP Server (Microsoft Exchange Internet Mail Service 5.5.2653.13) ready
    if let Some(version) = words.number_after("exchange internet mail service") {
        let product = if version.starts_with("5.0") {
            "Microsoft Exchange 5.0 (Internet Mail Service)"
        } else {
            "Microsoft Exchange 5.5 (Internet Mail Service)"
        };
        return identity(Generation::Exchange55, product, Some(version));
    }
    let exchange_verbs = words.any(EXCHANGE_VERBS);
    // 220 host Microsoft ESMTP MAIL Service, Version: 6.0.3790.3959 ready at ...
    // The version is the IIS SMTP service's: 5.0 on Windows 2000, 6.0 on
    // Server 2003, where Exchange 2000/2003 run; 7.0 and later on Windows
    // Server 2008 and later, where they do not.
    if let Some(version) = words.number_after("mail service, version:") {
        let windows = if version.starts_with("5.0.") {
            "Windows 2000"
        } else if version.starts_with("6.0.") {
            "Windows Server 2003"
        } else {
            let later = version.split('.').next().and_then(|major| major.parse::<u32>().ok()).is_some_and(|m| m >= 7);
            let product = if later {
                "Microsoft IIS SMTP service (Windows Server 2008 or later), not Exchange"
            } else {
                "Microsoft IIS SMTP service"
            };
            return identity(Generation::IisSmtp, product, Some(version));
        };
        let product = if exchange_verbs {
            format!("Microsoft Exchange 2000/2003 (SMTP virtual server, {windows})")
        } else {
            format!("Microsoft Exchange 2000/2003 or the IIS SMTP service alone ({windows})")
        };
        return identity(Generation::Exchange2000, &product, Some(version));
    }
    if words.hosts.iter().chain(&words.words).any(|w| ONLINE_HOSTS.iter().any(|parent| w.ends_with(parent))) {
        return identity(Generation::ExchangeOnline, "Exchange Online (Microsoft 365)", None);
    }
    if words.lower.contains("microsoft esmtp mail service") || words.any(EXCHANGE_2007_VERBS) {
        return identity(Generation::Exchange2007, "Microsoft Exchange 2007–2019/SE (receive connectors)", None);
    }
    if words.has("x-link2state") {
        return identity(Generation::Exchange2000, "Microsoft Exchange 2000/2003 (SMTP virtual server)", None);
    }
    Identity::from(Software::Exchange)
}

/// The texts' words, read once.
struct Words {
    /// Every word but each text's leading host name, in lower case, split
    /// at brackets and separators and without a trailing `.` or `:`.
    words: Vec<String>,
    /// Each text's leading host name, in lower case.
    hosts: Vec<String>,
    /// All the texts in lower case, reply codes removed, lines joined by
    /// spaces.
    lower: String,
}

impl Words {
    fn read(texts: &[&str]) -> Words {
        let mut out = Words { words: Vec::new(), hosts: Vec::new(), lower: String::new() };
        for text in texts {
            for (n, line) in text.lines().enumerate() {
                let line = strip_code(line);
                out.lower.push_str(&line.to_lowercase());
                out.lower.push(' ');
                for (i, word) in line.split_whitespace().enumerate() {
                    let word = word.to_lowercase();
                    if n == 0 && i == 0 && word.contains('.') {
                        out.hosts.push(word);
                        continue;
                    }
                    for piece in word.split(['(', ')', '[', ']', '<', '>', ';', ',', '/', '"']) {
                        let piece = piece.trim_end_matches(['.', ':']);
                        if !piece.is_empty() {
                            out.words.push(piece.to_string());
                        }
                    }
                }
            }
        }
        out
    }

    fn has(&self, word: &str) -> bool {
        self.words.iter().any(|w| w == word)
    }

    /// Whether any word is one of `verbs` or starts one (`X-EXPS=LOGIN`).
    fn any(&self, verbs: &[&str]) -> bool {
        self.words.iter().any(|w| verbs.iter().any(|v| w == v || w.starts_with(&format!("{v}="))))
    }

    /// The version right after the first `name`: `Exim 4.96`, `Sendmail
    /// 8.17.1/8.17.1`, `Postfix (3.7.11)`.
    fn version_after(&self, name: &str) -> Option<String> {
        let at = self.words.iter().position(|w| w == name)?;
        self.words.get(at + 1).filter(|w| is_version(w)).cloned()
    }

    /// The dotted number right after `phrase` in the text.
    fn number_after(&self, phrase: &str) -> Option<String> {
        let (_, rest) = self.lower.split_once(phrase)?;
        let number: String = rest.trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        let number = number.trim_end_matches('.');
        is_version(number).then(|| number.to_string())
    }
}

/// A line without its reply code (`220 `, `250-`), if it has one.
fn strip_code(line: &str) -> &str {
    let b = line.as_bytes();
    if b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit) && matches!(b.get(3), None | Some(b' ' | b'-')) {
        line.get(4..).unwrap_or("")
    } else {
        line
    }
}

/// `4.96`, `8.17.1`, `1.03`, `4.97_1`: a digit first, and a dot.
fn is_version(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_digit())
        && word.contains('.')
        && word.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl Software {
    /// Guesses from the banner and the EHLO reply; see [`Identity::recognise`].
    pub fn recognise(texts: &[&str]) -> Software {
        Identity::recognise(texts).software
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

    /// The setting that usually opens the hole the relay probe `probe_id`
    /// found (ids as in `probe::plan`: `helo-server-name`, `sender-at-ip`,
    /// `percent-ip`, …), for this software; empty where nothing specific is
    /// known. Every sentence names a setting its documentation gives.
    pub fn hole_advice(self, probe_id: &str) -> &'static [&'static str] {
        let Some(hole) = Hole::of(probe_id) else { return &[] };
        match (self, hole) {
            (Software::Postfix, Hole::Greeting) => &[
                "A check_helo_access table whose entry says OK, listed before reject_unauth_destination in smtpd_relay_restrictions (or in smtpd_recipient_restrictions), lets anyone relay who greets with that name: HELO names are forged at will.",
                "Remove such OK entries, or move check_helo_access after reject_unauth_destination: a HELO table is for refusing (listing your own names with REJECT is its usual use, since only strangers greet you with them).",
            ],
            (Software::Postfix, Hole::Sender) => &[
                "A check_sender_access table whose entry says OK, listed before reject_unauth_destination in smtpd_relay_restrictions (or in smtpd_recipient_restrictions), lets anyone relay who names that sender: sender addresses are forged at will.",
                "Remove such OK entries, or move check_sender_access after reject_unauth_destination or into smtpd_sender_restrictions (where OK ends only that list); relay only for permit_mynetworks and permit_sasl_authenticated.",
            ],
            (Software::Postfix, Hole::Percent) => &[
                "Look for allow_untrusted_routing = yes (the default is no): it forwards addresses with sender-specified routing such as user%site@yourhost to $relay_domains, and lets them match your access tables.",
                "allow_percent_hack = no stops Postfix rewriting user%domain into user@domain at all, if nothing of yours needs it.",
            ],
            (Software::Postfix, Hole::Bang) => &[
                "Look for allow_untrusted_routing = yes (the default is no): it forwards addresses with sender-specified routing such as site!user@yourhost to $relay_domains, and lets them match your access tables.",
                "swap_bangpath = no stops Postfix rewriting site!user into user@site at all, if nothing of yours needs UUCP addresses.",
            ],
            (Software::Postfix, Hole::SourceRoute) => &[
                "Postfix strips source routes (trivial-rewrite(8)), so @yourhost:user@site is judged as user@site: look for allow_untrusted_routing = yes (the default is no), which lets sender-routed addresses through to $relay_domains and into your access tables.",
            ],
            (Software::Postfix, Hole::Quoted) => &[
                "Keep resolve_dequoted_address = yes (the default): with no, Postfix's resolver no longer sees @, % or ! inside a quoted local part, which postconf(5) warns opens obscure relay attacks with user@domain@domain addresses.",
            ],
            (Software::Exim, Hole::Greeting) => &[
                "An accept statement in the RCPT ACL (acl_smtp_rcpt) that tests the greeting, such as condition = ${if eq{$sender_helo_name}{…}}, ahead of the relay check lets anyone relay who greets that way: HELO names are forged at will.",
                "Relay only for hosts = +relay_from_hosts (client addresses) or authenticated = *, as the default configuration does; then restart Exim and test again.",
            ],
            (Software::Exim, Hole::Sender) => &[
                "An accept statement with senders = … or sender_domains = … (for example sender_domains = +local_domains) ahead of the relay check in the RCPT ACL lets anyone relay who names such a sender: sender addresses are forged at will.",
                "Remove it, or make it require hosts = +relay_from_hosts or authenticated = * as well; then restart Exim and test again.",
            ],
            (Software::Exim, Hole::Percent) => &[
                "percent_hack_domains (unset by default) makes Exim read user%site@domain as user@site for the domains it lists: leave it unset unless you really need it.",
                "Keep the default configuration's RCPT ACL statements that deny local parts containing @, %, ! or / (\"Restricted characters in address\").",
            ],
            (Software::Exim, Hole::Bang) => &[
                "Exim reads a bang path as a plain local part, so an accepted one means a rewriting rule turns site!user@yourdomain into user@site, which the Exim FAQ (Q1502) warns opens relaying: remove it, or give it the S flag so that the address is rewritten before the relay check.",
                "Keep the default configuration's RCPT ACL statements that deny local parts containing @, %, ! or / (\"Restricted characters in address\").",
            ],
            (Software::Sendmail, Hole::Greeting) => &[
                "Sendmail's own relay rules (cf/README) look at the client's address and host name, authentication, TLS and, with relay_mail_from or relay_local_from, the sender, never at the HELO name: look for a ruleset added to sendmail.mc with LOCAL_RULESETS (such as Local_check_rcpt) that trusts it.",
            ],
            (Software::Sendmail, Hole::Sender) => &[
                "FEATURE(`relay_local_from') relays for any sender whose domain is one of the server's own names (class {w}), and FEATURE(`relay_mail_from') for senders listed as From:… RELAY in the access map (with `domain', for whole domains): sender addresses are forged at will, so remove them and relay by client address (Connect: entries in the access map, RELAY_DOMAIN) or SMTP AUTH.",
                "FEATURE(`relay_entire_domain') is about hosts, not senders: it relays for clients whose host name is in your domain (class {m}) and to any host in it. It cannot explain a relay that depends on the sender, but make sure class {m} is not a top-level domain.",
                "Rebuild sendmail.cf and the access map, restart Sendmail, then test again.",
            ],
            (Software::Sendmail, Hole::Percent) => &[
                "FEATURE(`loose_relay_check') stops Sendmail from rechecking user%site@yourhost as user@site for relaying (cf/README): remove it.",
                "FEATURE(`nopercenthack', `reject') refuses % in local parts from clients that may not relay, if you need no %-hack at all.",
            ],
            (Software::Sendmail, Hole::Bang) => &[
                "FEATURE(`loose_relay_check') also skips the recheck of site!user local parts: remove it.",
                "FEATURE(`nouucp', `reject') refuses local parts with ! from clients that may not relay, if you need no UUCP addresses (cf/README).",
            ],
            (Software::Sendmail, Hole::SourceRoute) => &[
                "cf/README gives FEATURE(`loose_relay_check') as what lets route-address recipients (@host:user@site) past the relay check: remove it if sendmail.mc has it.",
            ],
            (Software::Exchange, Hole::Greeting) => &[
                "Exchange's relay settings (receive connector permissions; on 2000/2003 the virtual server's Relay list) look at the connecting computer and its authentication, never at the HELO name: something else decided on the greeting, such as a gateway in front of Exchange.",
            ],
            (Software::Exchange, Hole::Sender) => &[
                "Exchange's relay settings (receive connector permissions; on 2000/2003 the virtual server's Relay list) look at the connecting computer and its authentication, never at the sender: a relay that depends on the sender comes from something else, such as a gateway in front of Exchange; check its sender allow-lists.",
            ],
            (Software::OpenSmtpd, Hole::Greeting) => &[
                "A match rule that relays on helo … (for example match from any helo <names> for any action \"relay\") lets anyone relay who greets that way: HELO names are forged at will. Relay only from local, from src <your networks> or from auth; then restart smtpd and test again.",
            ],
            (Software::OpenSmtpd, Hole::Sender) => &[
                "A match rule that relays from mail-from … (for example match from mail-from <senders> for any action \"relay\") takes those senders from any address, as smtpd.conf(5) says: sender addresses are forged at will. Relay only from local, from src <your networks> or from auth; then restart smtpd and test again.",
            ],
            (Software::Qmail, Hole::Greeting | Hole::Sender) => &[
                "qmail-smtpd itself relays only for clients with RELAYCLIENT set (by tcpserver's rules, per client address) and to the domains in control/rcpthosts, never by the greeting or the sender: look for a patch of qmail-smtpd that adds such rules, and for broad RELAYCLIENT lines in tcp.smtp.",
            ],
            (Software::Qmail, Hole::Percent) => &[
                "qmail-send rewrites user%site@domain into user@site for the domains listed in control/percenthack, after qmail-smtpd has checked only the domain against control/rcpthosts: keep control/percenthack empty.",
            ],
            _ => &[],
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

    /// Real banners, one per generation and per MTA at least (the Exchange
    /// ones as Microsoft's KB articles and public transcripts show them).
    /// Texts seen, then the software, generation, product and version read.
    type Case<'a> = (&'a [&'a str], Software, Option<Generation>, Option<&'a str>, Option<&'a str>);

    #[test]
    fn recognises_product_and_version() {
        use Generation::*;
        let cases: &[Case] = &[
            // The seed article's figure; and with ESMTP turned off (KB Q194131).
            (
                &["mail.example.com ESMTP Server (Microsoft Exchange Internet Mail Service 5.5.2653.13) ready"],
                Software::Exchange,
                Some(Exchange55),
                Some("Microsoft Exchange 5.5 (Internet Mail Service)"),
                Some("5.5.2653.13"),
            ),
            (
                &["mail.example.com  SMTP Server (Microsoft Exchange Internet Mail Service 5.5.2232.0) Ready."],
                Software::Exchange,
                Some(Exchange55),
                Some("Microsoft Exchange 5.5 (Internet Mail Service)"),
                Some("5.5.2232.0"),
            ),
            (
                &["mail.example.com Microsoft ESMTP MAIL Service, Version: 6.0.3790.3959 ready at  Thu, 3 Dec 2026 10:00:00 +0000"],
                Software::Exchange,
                Some(Exchange2000),
                Some("Microsoft Exchange 2000/2003 or the IIS SMTP service alone (Windows Server 2003)"),
                Some("6.0.3790.3959"),
            ),
            // Windows 2000's IIS (KB Q254560), and its EHLO with Exchange's verbs.
            (
                &[
                    "220 exchange.example.com Microsoft ESMTP MAIL Service, Version: 5.0.2195.2966 ready at  Mon, 24 Sep 2001 02:52:54 -0700",
                    "exchange.example.com Hello [192.0.2.1] TURN ATRN SIZE 5242880 ETRN PIPELINING DSN ENHANCEDSTATUSCODES 8bitmime BINARYMIME CHUNKING VRFY X-EXPS GSSAPI NTLM AUTH GSSAPI NTLM X-LINK2STATE XEXCH50 OK",
                ],
                Software::Exchange,
                Some(Exchange2000),
                Some("Microsoft Exchange 2000/2003 (SMTP virtual server, Windows 2000)"),
                Some("5.0.2195.2966"),
            ),
            // Windows Server 2019's IIS SMTP service: no Exchange there.
            (
                &["VICTIM Microsoft ESMTP MAIL Service, Version: 10.0.17763.1697 ready at  Wed, 4 Jan 2023 00:05:27 -0500"],
                Software::Exchange,
                Some(IisSmtp),
                Some("Microsoft IIS SMTP service (Windows Server 2008 or later), not Exchange"),
                Some("10.0.17763.1697"),
            ),
            (
                &["EX01.corp.example.com Microsoft ESMTP MAIL Service ready at Thu, 3 Dec 2026 10:00:00 +0000"],
                Software::Exchange,
                Some(Exchange2007),
                Some("Microsoft Exchange 2007–2019/SE (receive connectors)"),
                None,
            ),
            // A customised banner; the EHLO reply still shows Exchange 2007+.
            (
                &[
                    "220 mail.example.com ESMTP Ready",
                    "mail.example.com Hello [192.0.2.1] SIZE 37748736 PIPELINING DSN ENHANCEDSTATUSCODES STARTTLS X-ANONYMOUSTLS AUTH NTLM X-EXPS GSSAPI NTLM 8BITMIME BINARYMIME CHUNKING XRDST",
                ],
                Software::Exchange,
                Some(Exchange2007),
                Some("Microsoft Exchange 2007–2019/SE (receive connectors)"),
                None,
            ),
            (
                &["BN8NAM12FT011.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready at Thu, 3 Dec 2026 10:00:00 +0000 [08DE8A01A0B45E1B]"],
                Software::Exchange,
                Some(ExchangeOnline),
                Some("Exchange Online (Microsoft 365)"),
                None,
            ),
            (
                &["TYAP286CA0019.outlook.office365.com Microsoft ESMTP MAIL Service ready at Mon, 1 Nov 2021 14:02:29 +0000"],
                Software::Exchange,
                Some(ExchangeOnline),
                Some("Exchange Online (Microsoft 365)"),
                None,
            ),
            (&["mx.example.org ESMTP Postfix (Debian/GNU)"], Software::Postfix, None, Some("Postfix"), None),
            (&["mx.example.org ESMTP Postfix (3.7.11)"], Software::Postfix, None, Some("Postfix"), Some("3.7.11")),
            (&["mail.example.org ESMTP Exim 4.96 Mon, 01 Jan 2024 10:00:00 +0000"], Software::Exim, None, Some("Exim"), Some("4.96")),
            (&["mail.example.org ESMTP Sendmail 8.17.1/8.17.1; Thu, 3 Dec 2026 10:00:00 GMT"], Software::Sendmail, None, Some("Sendmail"), Some("8.17.1")),
            (
                &["mail.example.org ESMTP Sendmail 8.15.2/8.15.2/Debian-22ubuntu3; Thu, 3 Dec 2026 10:00:00 +0000"],
                Software::Sendmail,
                None,
                Some("Sendmail"),
                Some("8.15.2"),
            ),
            (&["mail.example.org ESMTP Sendmail Ready; Thu, 3 Dec 2026"], Software::Sendmail, None, Some("Sendmail"), None),
            (&["mail.example.org ESMTP OpenSMTPD"], Software::OpenSmtpd, None, Some("OpenSMTPD"), None),
            (&["mail.example.org ESMTP qmail 1.03"], Software::Qmail, None, Some("qmail"), Some("1.03")),
            (&["mail.example.org ESMTP netqmail 1.06"], Software::Qmail, None, Some("netqmail"), Some("1.06")),
            (&["mail.example.org ESMTP"], Software::Other, None, None, None),
            // The server's own name names no product.
            (&["exim.example.org ESMTP Postfix"], Software::Postfix, None, Some("Postfix"), None),
            (&["exchange.example.org ESMTP ready"], Software::Other, None, None, None),
            // Wire lines, codes and all, as the engine keeps the banner.
            (&["220-mx.example.org ESMTP Exim 4.97.1 Thu, 3 Dec 2026\n220 no spam here"], Software::Exim, None, Some("Exim"), Some("4.97.1")),
        ];
        for (texts, software, generation, product, version) in cases {
            let got = Identity::recognise(texts);
            assert_eq!(got.software, *software, "{texts:?}");
            assert_eq!(got.generation, *generation, "{texts:?}");
            assert_eq!(got.product.as_deref(), *product, "{texts:?}");
            assert_eq!(got.version.as_deref(), *version, "{texts:?}");
        }
    }

    #[test]
    fn labels_say_product_and_version() {
        let label = |banner: &str| Identity::recognise(&[banner]).label();
        assert_eq!(label("mail.example.org ESMTP Sendmail 8.17.1/8.17.1"), "Sendmail 8.17.1");
        assert_eq!(
            label("mail.example.com ESMTP Server (Microsoft Exchange Internet Mail Service 5.5.2653.13) ready"),
            "Microsoft Exchange 5.5 (Internet Mail Service), version 5.5.2653.13"
        );
        assert_eq!(
            label("mail.example.com Microsoft ESMTP MAIL Service, Version: 6.0.3790.3959 ready at  Thu, 3 Dec 2026"),
            "Microsoft Exchange 2000/2003 or the IIS SMTP service alone (Windows Server 2003), SMTP service 6.0.3790.3959"
        );
        assert_eq!(label("mail.example.org ESMTP"), "an unrecognised mail server");
    }

    #[test]
    fn identities_read_back_as_written() {
        for banner in [
            "mail.example.com Microsoft ESMTP MAIL Service, Version: 6.0.3790.3959 ready",
            "mail.example.org ESMTP Exim 4.96",
            "mail.example.org ESMTP",
        ] {
            let identity = Identity::recognise(&[banner]);
            let json = serde_json::to_string(&identity).unwrap();
            assert_eq!(serde_json::from_str::<Identity>(&json).unwrap(), identity, "{json}");
        }
        use Generation::*;
        for g in [Exchange55, Exchange2000, IisSmtp, Exchange2007, ExchangeOnline] {
            let json = serde_json::to_string(&g).unwrap();
            assert_eq!(serde_json::from_str::<Generation>(&json).unwrap(), g, "{json}");
        }
        assert_eq!(serde_json::to_string(&ExchangeOnline).unwrap(), r#""exchange_online""#);
    }

    #[test]
    fn each_generation_is_told_its_own_tool() {
        let cases = [
            (
                "mail.example.com ESMTP Server (Microsoft Exchange Internet Mail Service 5.5.2653.13) ready",
                &["Exchange Administrator", "Internet Mail Service", "Routing", "Reroute incoming SMTP mail"][..],
            ),
            (
                "mail.example.com Microsoft ESMTP MAIL Service, Version: 6.0.3790.3959 ready at  Thu, 3 Dec 2026",
                &[
                    "Exchange System Manager",
                    "Default SMTP Virtual Server",
                    "Only the list below",
                    "successfully authenticate",
                ],
            ),
            (
                "web01 Microsoft ESMTP MAIL Service, Version: 10.0.14393.4169 ready at  Mon, 22 Dec 2025",
                &["IIS) 6.0 Manager", "Only the list below"],
            ),
            (
                "EX01.corp.example.com Microsoft ESMTP MAIL Service ready at Thu, 3 Dec 2026",
                &[
                    "Exchange Management Shell",
                    "Get-ReceiveConnector",
                    "ANONYMOUS LOGON",
                    "Remove-ADPermission",
                    "RemoteIPRanges",
                ],
            ),
            (
                "BN8NAM12FT011.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready at Thu, 3 Dec 2026",
                &["Exchange admin center", "Connectors", "Your organization's email server", "Get-InboundConnector"],
            ),
        ];
        for (banner, tools) in cases {
            let identity = Identity::recognise(&[banner]);
            let advice = identity.advice().join(" ");
            assert!(identity.generation.is_some() && !advice.is_empty(), "{banner}");
            for tool in tools {
                assert!(advice.contains(tool), "{banner}: no {tool} in {advice}");
            }
            assert!(!identity.catch_all_advice().is_empty(), "{banner}");
        }
        // Without a generation, the software's own advice.
        let postfix = Identity::recognise(&["mx.example.org ESMTP Postfix"]);
        assert_eq!(postfix.advice(), Software::Postfix.advice());
        assert_eq!(Identity::from(Software::Exchange).advice(), Software::Exchange.advice());
    }

    #[test]
    fn hole_advice_names_the_setting_that_opened_the_hole() {
        let has = |advice: &[&str], word: &str| advice.iter().any(|a| a.contains(word));
        let postfix = Software::Postfix;
        for id in ["helo-server-name", "helo-address-literal", "helo-localhost"] {
            assert!(has(postfix.hole_advice(id), "check_helo_access"), "{id}");
        }
        for id in ["sender-in-audited-domain", "spoofed-local-sender", "sender-at-server", "sender-at-ip"] {
            assert!(has(postfix.hole_advice(id), "check_sender_access"), "{id}");
            assert!(has(Software::Sendmail.hole_advice(id), "relay_local_from"), "{id}");
            assert!(has(Software::Exim.hole_advice(id), "senders ="), "{id}");
        }
        assert!(has(postfix.hole_advice("percent-ip"), "allow_percent_hack"));
        assert!(has(postfix.hole_advice("bang-server"), "swap_bangpath"));
        assert!(has(Software::Sendmail.hole_advice("percent-localhost"), "loose_relay_check"));
        assert!(has(Software::Sendmail.hole_advice("ipv6-literal"), "loose_relay_check"));
        assert!(has(Software::Sendmail.hole_advice("bang"), "nouucp"));
        assert!(has(Software::Sendmail.hole_advice("sender-at-ip"), "relay_entire_domain') is about hosts"));
        assert!(has(Software::Qmail.hole_advice("percent-server"), "control/percenthack"));
        // Nothing specific: nothing said.
        for id in ["manual", "null-sender", "trailing-dot", "no-such-probe", ""] {
            assert!(postfix.hole_advice(id).is_empty(), "{id}");
        }
        assert!(Software::Other.hole_advice("helo-localhost").is_empty());
        assert!(Software::Exchange.hole_advice("percent-ip").is_empty());

        // Exchange: per generation, and the generation-less fallback.
        let ex2007 =
            Identity::recognise(&["EX01.corp.example.com Microsoft ESMTP MAIL Service ready at Thu, 3 Dec 2026"]);
        assert!(has(ex2007.hole_advice("helo-server-name"), "never by the HELO name"));
        assert!(has(ex2007.hole_advice("spoofed-local-sender"), "ms-Exch-SMTP-Accept-Any-Recipient"));
        let online =
            Identity::recognise(&["BN8NAM12FT011.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready"]);
        assert!(has(online.hole_advice("sender-in-audited-domain"), "SenderIPAddresses"));
        assert!(!Identity::from(Software::Exchange).hole_advice("helo-localhost").is_empty());
        assert!(ex2007.hole_advice("percent-ip").is_empty());
        // Other software through Identity: as Software says.
        let sendmail = Identity::recognise(&["mail.example.org ESMTP Sendmail 8.17.1/8.17.1"]);
        assert_eq!(sendmail.hole_advice("percent-ip"), Software::Sendmail.hole_advice("percent-ip"));
    }

    #[test]
    fn every_probe_of_the_plan_has_a_hole_kind_or_none_on_purpose() {
        use crate::config::Config;
        use crate::probe::{plan, PlanInput};
        let config = Config::default();
        let input = PlanInput {
            config: &config,
            address: "192.0.2.7".parse().unwrap(),
            server_name: Some("mx1.example.org"),
            audited_domain: Some("provider.example"),
        };
        let without = ["manual", "null-sender", "unqualified-sender", "trailing-at", "trailing-dot"];
        for probe in plan(&input) {
            assert_eq!(Hole::of(&probe.id).is_none(), without.contains(&probe.id.as_str()), "{}", probe.id);
        }
        let ids: Vec<String> = plan(&input).into_iter().map(|p| p.id).collect();
        for id in crate::probe::FORGED_GREETINGS.iter().chain(&["sender-in-audited-domain"]) {
            assert!(ids.iter().any(|i| i == id), "{id} is not in the plan");
            assert!(Hole::of(id).is_some(), "{id}");
        }
    }

    #[test]
    fn a_report_without_an_identity_is_written_as_before() {
        use crate::report::Server;
        let json = serde_json::to_string(&Server::default()).unwrap();
        assert!(!json.contains("identity"), "{json}");
        let identity = Some(Identity::recognise(&["mail.example.org ESMTP Sendmail 8.17.1/8.17.1"]));
        let server = Server { software: Software::Sendmail, identity, ..Server::default() };
        let json = serde_json::to_string(&server).unwrap();
        assert!(
            json.contains(r#""identity":{"software":"sendmail","product":"Sendmail","version":"8.17.1"}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Server>(&json).unwrap(), server);
    }
}
