//! Real refusals from real mail servers, and what each refuses (issue 22). Each line names its source.
//!
//! The texts are copied from the servers' own source code (the function or
//! table that writes them, at the commit read), from their vendors'
//! documentation pages, or from transcripts of real sessions; only the
//! addresses, names and session ids are replaced by documentation ones:
//! the checker at 203.0.113.9 greeting as `relaycheck.invalid`, its sender
//! `relaycheck@example.com`, its outside recipient `relaycheck@example.net`,
//! the audited server `mx.example.org`. `docs/mtas.md` ("What servers refuse
//! before they judge relaying") says which setting of each server sends which.
//!
//! Sources read (commit or version):
//! - Postfix: github.com/vdukhovni/postfix 17830e5c (3.12-20260821); the texts
//!   quoted are the same in 3.7 and later.
//! - Exim: github.com/Exim/exim 13835a3c (4.99 development), its test suite
//!   under test/stdout, and doc/doc-docbook/spec.xfpt.
//! - OpenSMTPD: github.com/OpenSMTPD/OpenSMTPD 3153385b (7.8.0p1).
//! - Sendmail: github.com/hrs-allbsd/sendmail 19036c0d (8.18.0.2).
//! - qmail: github.com/notqmail/notqmail qmail-smtpd.c (the reply texts are
//!   netqmail 1.06's and qmail 1.03's); rblsmtpd: github.com/comotion/ucspi-tcp.
//! - Haraka: github.com/haraka/Haraka 0bf10cbb and its plugins helo.checks,
//!   dns-list, limit.
//! - Courier: github.com/svarshavchik/courier fe506ccc.
//! - hMailServer: github.com/hmailserver/hmailserver 4d11f81d.
//! - Microsoft Exchange 2007-2019: `Microsoft.Exchange.Data.Transport.Smtp.SmtpResponse`
//!   and `ConnectionFilteringAgent` as decompiled from the Exchange assemblies
//!   (public copies in the code index), and Microsoft's page "Use Telnet to
//!   test SMTP communication on Exchange servers"
//!   (learn.microsoft.com/exchange/mail-flow/test-smtp-telnet).
//! - Exchange 4.0-5.5, 2000/2003 and the Windows SMTP service: KB Q304897
//!   "XIMS: Microsoft SMTP Servers May Seem to Accept and Relay E-Mail"
//!   (github.com/jeffpar/kbarchive kb/304/Q304897).
//! - Microsoft 365 / Exchange Online: "Email non-delivery reports and SMTP
//!   errors in Exchange Online" (learn.microsoft.com/exchange/troubleshoot/
//!   email-delivery/ndr/non-delivery-reports-in-exchange-online).
//! - Gmail: "Gmail SMTP errors and codes" (support.google.com/a/answer/3726730),
//!   as quoted in github.com/sisimai/p5-sisimai lib/Sisimai/Rhost/Google.pm.
//! - Yahoo, iCloud, Outlook.com, Mimecast, Orange, GoDaddy: the providers'
//!   error-code pages as quoted in p5-sisimai lib/Sisimai/Rhost/*.pm (each
//!   module names its page).
//! - Replies seen by an address verifier that sends exactly MAIL and RCPT:
//!   github.com/reacherhq/check-if-email-exists core/src/smtp/parser.rs.

use relay_core::refusal::{classify, Refusal};
use relay_core::{Reply, ReplyLimits, ReplyParser, Stage}; // Stage is relay_core::verdict::Stage
use Refusal::*;
// The stages go by other names here: Stage::Greeting, Stage::Sender and
// Stage::Recipient share their names with Refusal's Greeting, Sender and
// Recipient, and an explicit import would shadow the classes.
use Stage::{Banner, Greeting as Helo, Recipient as Rcpt, Sender as Mail};

/// (stage, the reply as the server sends it, lines joined by `\n`, class)
const TABLE: &[(Stage, &str, Refusal)] = &[
    // ===== Postfix ========================================================
    // src/smtpd/smtpd_check.c reject_unauth_destination(), relay_domains_reject_code 554
    (Rcpt, "554 5.7.1 <relaycheck@example.net>: Relay access denied", Relay),
    // same function through defer_unauth_destination (Debian's default smtpd_relay_restrictions)
    (Rcpt, "454 4.7.1 <relaycheck@example.net>: Relay access denied", Relay),
    // the form without the address that today's fixtures send (relay-core/tests/common/mod.rs postfix())
    (Rcpt, "554 5.7.1 Relay access denied", Relay),
    // smtpd_check.c check_rcpt_maps(), local_recipient_maps, show_user_unknown_table_name=yes
    (Rcpt, "550 5.1.1 <nx@mx.example.org>: Recipient address rejected: User unknown in local recipient table", Recipient),
    // smtpd_check.c check_rcpt_maps(), virtual_mailbox_maps
    (Rcpt, "550 5.1.1 <nx@example.org>: Recipient address rejected: User unknown in virtual mailbox table", Recipient),
    // smtpd_check.c check_rcpt_maps(), relay_recipient_maps (a domain it relays for, no such user)
    (Rcpt, "550 5.1.1 <nx@example.org>: Recipient address rejected: User unknown in relay recipient table", Recipient),
    // smtpd_check.c reject_unknown_mailhost(), reject_unknown_recipient_domain, null MX (RFC 7505)
    (Rcpt, "556 5.1.10 <relaycheck@example.net>: Recipient address rejected: Domain example.net does not accept mail (nullMX)", RecipientDomain),
    // smtpd_check.c reject_unknown_mailhost(), reject_unknown_recipient_domain, unknown_address_reject_code 450
    (Rcpt, "450 4.1.2 <relaycheck@example.invalid>: Recipient address rejected: Domain not found", RecipientDomain),
    // smtpd_check.c reject_non_fqdn_address(), reject_non_fqdn_recipient, non_fqdn_reject_code 504
    (Rcpt, "504 5.5.2 <relaycheck>: Recipient address rejected: need fully-qualified address", Recipient),
    // smtpd_check.c check_table_result() REJECT in check_recipient_access, access_map_reject_code 554
    // (the same words come from a bare `reject` at the end of smtpd_recipient_restrictions)
    (Rcpt, "554 5.7.1 <relaycheck@example.net>: Recipient address rejected: Access denied", Recipient),
    // smtpd_check.c reject_unknown_mailhost(), reject_unknown_sender_domain, null MX; given to RCPT
    // because smtpd_delay_reject=yes
    (Rcpt, "550 5.7.27 <relaycheck@example.com>: Sender address rejected: Domain example.com does not accept mail (nullMX)", Sender),
    // smtpd_check.c reject_unknown_mailhost(), reject_unknown_sender_domain with smtpd_delay_reject=no
    (Mail, "450 4.1.8 <relaycheck@example.invalid>: Sender address rejected: Domain not found", Sender),
    // smtpd_check.c reject_unauth_sender_login_mismatch(), smtpd_sender_login_maps
    (Rcpt, "553 5.7.1 <relaycheck@example.com>: Sender address rejected: not logged in", Sender),
    // smtpd_check.c reject_non_fqdn_address(), reject_non_fqdn_sender
    (Rcpt, "504 5.5.2 <relaycheck>: Sender address rejected: need fully-qualified address", Sender),
    // smtpd_check.c check_sender_rcpt_maps(), reject_unlisted_sender (a sender at the server's own domain)
    (Rcpt, "550 5.1.0 <relaycheck@mx.example.org>: Sender address rejected: User unknown in local recipient table", Sender),
    // smtpd_check.c check_table_result() REJECT in check_sender_access
    (Rcpt, "554 5.7.1 <relaycheck@example.com>: Sender address rejected: Access denied", Sender),
    // smtpd_check.c rbl_reject_reply() for reject_rhsbl_sender, default_rbl_reply (global/mail_params.h
    // DEF_DEF_RBL_REPLY): "blocked using" here names the SENDER's domain, not the client
    (Rcpt, "554 5.7.1 Service unavailable; Sender address [relaycheck@example.com] blocked using dbl.spamhaus.org", Sender),
    // smtpd_check.c rbl_reject_reply() for reject_rbl_client, default_rbl_reply with the list's TXT record
    (Rcpt, "554 5.7.1 Service unavailable; Client host [203.0.113.9] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.9", Client),
    // smtpd_check.c rbl_reject_reply() for reject_rhsbl_helo: the list names the greeting name
    (Rcpt, "554 5.7.1 Service unavailable; Helo command [relaycheck.invalid] blocked using dbl.spamhaus.org", Greeting),
    // smtpd_check.c rbl_reject_reply() for reject_rhsbl_recipient: the recipient's domain is listed
    (Rcpt, "554 5.7.1 Service unavailable; Recipient address [relaycheck@example.net] blocked using dbl.spamhaus.org", RecipientDomain),
    // smtpd_check.c reject_unknown_client(), reject_unknown_client_hostname, unknown_client_reject_code 450
    (Rcpt, "450 4.7.25 Client host rejected: cannot find your hostname, [203.0.113.9]", Client),
    // smtpd_check.c reject_unknown_reverse_name(), reject_unknown_reverse_client_hostname
    (Rcpt, "450 4.7.1 Client host rejected: cannot find your reverse hostname, [203.0.113.9]", Client),
    // smtpd_check.c check_table_result() REJECT in check_client_access (the name is "unknown[address]")
    (Rcpt, "554 5.7.1 <unknown[203.0.113.9]>: Client host rejected: Access denied", Client),
    // smtpd_check.c reject_invalid_hostname(), reject_invalid_helo_hostname, invalid_hostname_reject_code 501
    (Rcpt, "501 5.5.2 <relaycheck_host>: Helo command rejected: Invalid name", Greeting),
    // smtpd_check.c reject_non_fqdn_hostname(), reject_non_fqdn_helo_hostname, given to RCPT (delay_reject)
    (Rcpt, "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname", Greeting),
    // the same with smtpd_delay_reject=no and the check in smtpd_helo_restrictions
    (Helo, "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname", Greeting),
    // smtpd_check.c reject_unknown_hostname(), reject_unknown_helo_hostname, unknown_hostname_reject_code 450
    (Rcpt, "450 4.7.1 <relaycheck.invalid>: Helo command rejected: Host not found", Greeting),
    // smtpd_check.c check_table_result() REJECT in check_helo_access (sites list their own name
    // to refuse clients that greet with it)
    (Rcpt, "554 5.7.1 <mx.example.org>: Helo command rejected: Access denied", Greeting),
    // smtpd_check.c reject_unauth_pipelining(): the words say "Recipient address" because the
    // check ran at RCPT, but what is refused is the client's pipelining, not the address
    (Rcpt, "503 5.5.0 <relaycheck@example.net>: Recipient address rejected: Improper use of SMTP command pipelining", Client),
    // postgrey (policy service) answers "DEFER_IF_PERMIT Greylisted, see http://postgrey.schweikert.ch/help/<domain>.html";
    // smtpd_check.c check_table_result() DEFER_IF_PERMIT makes it 450 4.7.1: greylisting, come back later
    (Rcpt, "450 4.7.1 <relaycheck@example.net>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.net.html", Limit),
    // pypolicyd-spf spf_engine/__init__.py _rejectmessage(), mail-from scope (s=mfrom), through Postfix;
    // seen verbatim in a ProtonMail bounce. "Recipient address rejected" but the sender's SPF failed
    (Rcpt, "550 5.7.23 <relaycheck@example.net>: Recipient address rejected: Message rejected due to: SPF fail - not authorized. Please see http://www.openspf.net/Why?s=mfrom;id=relaycheck@example.com;ip=203.0.113.9;r=<UNKNOWN>", Sender),
    // the same function, HELO scope (s=helo): the SPF of the greeting name failed
    (Rcpt, "550 5.7.23 <relaycheck@example.net>: Recipient address rejected: Message rejected due to: SPF fail - not authorized. Please see http://www.openspf.net/Why?s=helo;id=relaycheck.invalid;ip=203.0.113.9;r=<UNKNOWN>", Greeting),
    // src/smtpd/smtpd.c mail_cmd(), smtpd_client_message_rate_limit (anvil)
    (Mail, "450 4.7.1 Error: too much mail from 203.0.113.9", Limit),
    // smtpd.c rcpt_cmd(), smtpd_client_recipient_rate_limit (anvil)
    (Rcpt, "450 4.7.1 Error: too many recipients from 203.0.113.9", Limit),
    // smtpd.c rcpt_cmd(), smtpd_recipient_limit
    (Rcpt, "452 4.5.3 Error: too many recipients", Limit),
    // smtpd.c smtpd_proto(), smtpd_client_connection_count_limit and smtpd_client_connection_rate_limit
    (Banner, "421 4.7.0 mx.example.org Error: too many connections from 203.0.113.9", Limit),
    // smtpd.c smtpd_proto(), smtpd_hard_error_limit
    (Rcpt, "421 4.7.0 mx.example.org Error: too many errors", Limit),
    // smtpd.c smtpd_proto(), smtpd_tls_security_level=encrypt
    (Mail, "530 5.7.0 Must issue a STARTTLS command first", Security),
    // smtpd_check.c reject_plaintext_session(), plaintext_reject_code 450: no "TLS" in the words
    (Rcpt, "450 4.7.1 Session encryption is required", Security),
    // smtpd.c smtpd_proto(): a milter rejected the connection (iCloud's MX sends this to clients it
    // blocks); the words do not say why
    (Banner, "554 mx.example.org ESMTP not accepting connections", Unspecified),
    // smtpd.c smtpd_proto(): a milter tempfailed the connection
    (Banner, "421 mx.example.org Service unavailable - try again later", Limit),
    // src/postscreen/postscreen.c psc_service(), postscreen_client_connection_count_limit
    (Banner, "421 4.7.0 Error: too many connections", Limit),
    // postscreen.c psc_service(), postscreen_post_queue_limit
    (Banner, "421 4.3.2 All server ports are busy", Limit),
    // postscreen_early.c PSC_DNSBL_FORMAT, postscreen_dnsbl_action=drop
    (Banner, "521 5.7.1 Service unavailable; client [203.0.113.9] blocked using zen.spamhaus.org", Client),
    // postscreen_early.c PSC_DNSBL_FORMAT, postscreen_dnsbl_action=enforce (refused at RCPT)
    (Rcpt, "550 5.7.1 Service unavailable; client [203.0.113.9] blocked using zen.spamhaus.org", Client),
    // postscreen.c psc_service(), postscreen_access_list denylist + postscreen_denylist_action=enforce:
    // the client is on the site's own denylist; the words only say 5.3.2 "not accepting"
    (Rcpt, "550 5.3.2 Service currently unavailable", Client),

    // ===== Exim ===========================================================
    // src/src/configure.default acl_check_rcpt: `require message = relay not permitted`
    (Rcpt, "550 relay not permitted", Relay),
    // src/src/route.c route_address(): no router took the address. Toward an outside domain that
    // has neither MX nor A (the dnslookup router declines, `no_more`) this refuses the DOMAIN, and
    // that is the case this line stands for. The same words come for an unknown LOCAL user under
    // Debian's configuration (no cannot_route_message), which the engine tells apart by the address.
    (Rcpt, "550 Unrouteable address", RecipientDomain),
    // Exim 4.96 src/src/routers/dnslookup.c, a null MX (RFC 7505) under
    // `verify = recipient` through a dnslookup router; seen against Exim in
    // ws-bridge/tests/check_refusals_exim.rs.
    (Rcpt, "550 an MX or SRV record indicated no SMTP service", RecipientDomain),
    // configure.default router localuser: `cannot_route_message = Unknown user`
    (Rcpt, "550 Unknown user", Recipient),
    // configure.default acl_check_rcpt: `deny message = Restricted characters in address`
    (Rcpt, "550 Restricted characters in address", Recipient),
    // Debian's exim4 configuration writes it in lower case (today's fixture, tests/src/exim.rs)
    (Rcpt, "550 restricted characters in address", Recipient),
    // src/src/parse.c parse_extract_address() "domain literals not allowed", answered to MAIL
    (Mail, "501 <relaycheck@[127.0.0.1]>: domain literals not allowed", Sender),
    // the same error answered to RCPT, as today's fixture writes it (relay-core/tests/common/mod.rs exim())
    (Rcpt, "501 domain literals not allowed", Recipient),
    // the same error as smtp_in.c synprot_error() really writes it for RCPT: "501 <data>: message"
    (Rcpt, "501 <relaycheck%example.net@[127.0.0.1]>: domain literals not allowed", Recipient),
    // smtp_in.c smtp_setup_msg() MAIL: unqualified sender, no sender_unqualified_hosts
    (Mail, "501 <relaycheck>: sender address must contain a domain", Sender),
    // smtp_in.c RCPT: unqualified recipient, as today's fixture writes it
    (Rcpt, "501 recipient address must contain a domain", Recipient),
    // smtp_in.c RCPT: the same, as smtp_in.c writes it ("501 %s: recipient address must contain a domain")
    (Rcpt, "501 <relaycheck>: recipient address must contain a domain", Recipient),
    // parse.c "malformed address: %.32s may not follow %.*s" (today's fixture)
    (Rcpt, "501 malformed address: @ may not follow relaycheck@example.net", Recipient),
    // configure.default `require verify = sender`: acl.c "Sender verify failed" after the
    // route.c "Unrouteable address" of the sender, smtp_in.c smtp_handle_acl_fail()
    // "Verification failed for <%s>"; the exact three lines are in Exim's test/stdout (0023 and others)
    (Rcpt, "550-Verification failed for <relaycheck@example.com>\n550-Unrouteable address\n550 Sender verify failed", Sender),
    // configure.default's dnslists example: `message = rejected because $sender_host_address is in a
    // black list at $dnslist_domain\n$dnslist_text`
    (Rcpt, "550-rejected because 203.0.113.9 is in a black list at zen.spamhaus.org\n550 https://www.spamhaus.org/query/ip/203.0.113.9", Client),
    // the same example with Barracuda's list, as a verifier met it (reacherhq parser.rs)
    (Rcpt, "550 Rejected because 203.0.113.9 is in a black list at b.barracudacentral.org", Client),
    // smtp_in.c smtp_handle_acl_fail(): an ACL denied without a message (`require verify = helo`,
    // `verify = reverse_host_lookup`, a bare `deny`); spec.xfpt smtp_return_error_details
    (Rcpt, "550 Administrative prohibition", Unspecified),
    // smtp_in.c smtp_setup_msg() HELO_EHLO: check_helo() failed
    (Helo, "501 Syntactically invalid EHLO argument(s)", Greeting),
    // smtp_in.c HELO_EHLO: helo_verify_hosts and the name does not match the client
    (Helo, "550 EHLO argument does not match calling host", Greeting),
    // src/src/daemon.c handle_smtp_call(), smtp_accept_max_per_host
    (Banner, "421 Too many concurrent SMTP connections from this IP address; please try again later.", Limit),
    // daemon.c handle_smtp_call(), smtp_accept_max
    (Banner, "421 Too many concurrent SMTP connections; please try again later.", Limit),
    // daemon.c daemon_go(), load average above smtp_load_reserve
    (Banner, "421 Too much load; please try again later.", Limit),
    // smtp_in.c smtp_start_session(), host_reject_connection
    (Banner, "554 SMTP service not available", Unspecified),
    // smtp_in.c RCPT, recipients_max
    (Rcpt, "452 too many recipients", Limit),
    // smtp_in.c MAIL, smtp_accept_max_per_connection
    (Mail, "421 too many messages in this connection", Limit),
    // smtp_in.c synprot_error(), the fourth syntax error with smtp_max_synprot_errors = 3: the
    // address is refused AND the connection closes because of the count
    (Rcpt, "501-<relaycheck%example.net@[127.0.0.1]>: domain literals not allowed\n501 Too many syntax or protocol errors", Limit),
    // spec.xfpt, ratelimit: `defer ratelimit = ... message = Sender rate exceeds $sender_rate_limit
    // messages per $sender_rate_period` ("Sender" names the client's rate, not the address)
    (Rcpt, "451 Sender rate exceeds 100 messages per 1h", Limit),
    // spec.xfpt, ratelimit: `defer ratelimit = 10 / 1s / $primary_hostname message = Sorry, too busy. Try again later.`
    (Rcpt, "451 Sorry, too busy. Try again later.", Limit),

    // ===== Sendmail =======================================================
    // cf/m4/proto.m4 check_rcpt, confRELAY_MSG default "550 Relaying denied"; the server puts
    // "<address>... " before the words
    (Rcpt, "550 5.7.1 <relaycheck@example.net>... Relaying denied", Relay),
    // proto.m4 confRELAY_MSG when the server offers AUTH (_USE_AUTH_)
    (Rcpt, "550 5.7.1 <relaycheck@example.net>... Relaying denied. Proper authentication required.", Relay),
    // proto.m4 Rcpt_ok / <FAIL>: the client's name did not resolve; still a relay refusal
    (Rcpt, "550 5.7.1 <relaycheck@example.net>... Relaying denied. IP name lookup failed [203.0.113.9]", Relay),
    // proto.m4 <FORGED>: the client's name is possibly forged; still a relay refusal
    (Rcpt, "550 5.7.1 <relaycheck@example.net>... Relaying denied. IP name possibly forged [203.0.113.9]", Relay),
    // sendmail/recipient.c "550 5.1.1 User unknown" for a local user that does not exist
    (Rcpt, "550 5.1.1 <nx@mx.example.org>... User unknown", Recipient),
    // proto.m4 confRCPTREJ_MSG default, access map `To:... REJECT`
    (Rcpt, "550 5.2.1 <relaycheck@example.net>... Mailbox disabled for this recipient", Recipient),
    // proto.m4 check_mail <PERM>: "Domain of sender address $&f does not exist"
    (Mail, "553 5.1.8 <relaycheck@example.invalid>... Domain of sender address relaycheck@example.invalid does not exist", Sender),
    // the same with FEATURE(delay_checks): given to RCPT, after the RECIPIENT's address
    (Rcpt, "553 5.1.8 <relaycheck@example.net>... Domain of sender address relaycheck@example.invalid does not exist", Sender),
    // cf/feature/dnsbl.m4 _DNSBL_MSG_ "550 Rejected: $&{client_addr} listed at <list>" in check_relay;
    // srvrsmtp.c smtp() then answers every MAIL with it (nullserver)
    (Mail, "550 5.7.1 Rejected: 203.0.113.9 listed at zen.spamhaus.org", Client),
    // proto.m4 check_relay, access map `Connect:203.0.113.9 REJECT` ("550 Access denied"), given to
    // MAIL by the nullserver: it refuses the client, and its words say nothing of whom
    (Mail, "550 5.7.1 Access denied", Unspecified),
    // conf.c validate_connection() "Access denied" for a tcpwrappers refusal; srvrsmtp.c smtp()
    // writes it as usrerr("550 5.0.0 %s", nullserver)
    (Mail, "550 5.0.0 Access denied", Unspecified),
    // proto.m4 FEATURE(block_bad_helo) in check_rcpt: the client greeted with the server's own name
    (Rcpt, "550 5.7.1 <relaycheck@example.net>... bogus HELO name used: mx.example.org", Greeting),
    // proto.m4 FEATURE(require_rdns) in check_relay, FAIL
    (Mail, "550 5.7.1 Fix reverse DNS for 203.0.113.9", Client),
    // proto.m4 FEATURE(require_rdns), FORGED: the enhanced code is the sender's 4.1.8, the words the client's
    (Mail, "451 4.1.8 Possibly forged hostname for 203.0.113.9", Client),
    // proto.m4 FEATURE(require_rdns), TEMP
    (Mail, "451 4.1.8 Client IP address 203.0.113.9 does not resolve", Client),
    // proto.m4 RateControl, FEATURE(ratecontrol) default reply code 452
    (Mail, "452 4.3.2 Connection rate limit exceeded.", Limit),
    // proto.m4 ConnControl, FEATURE(conncontrol, nodelay, terminate): a 421 nullserver is sent at once
    (Banner, "421 4.3.2 Too many open connections.", Limit),
    // srvrsmtp.c smtp() RCPT, confMAX_RCPTS_PER_MESSAGE
    (Rcpt, "452 4.5.3 Too many recipients", Limit),
    // srvrsmtp.c smtp(), MAXBADCOMMANDS while refusing (nullserver)
    (Rcpt, "421 4.7.0 mx.example.org Too many bad commands; closing connection", Limit),
    // srvrsmtp.c smtp() MAIL, AuthOptions with `a` (SRV_REQ_AUTH)
    (Mail, "530 5.7.0 Authentication required", Security),

    // ===== qmail, netqmail, notqmail ======================================
    // qmail-smtpd.c err_nogateway(): the recipient's domain is not in control/rcpthosts
    (Rcpt, "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", Relay),
    // qmail-smtpd.c err_bmf(), answered to RCPT: the sender is in control/badmailfrom
    (Rcpt, "553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)", Sender),
    // qmail-smtpd.c err_syntax() from smtp_rcpt(): addrparse() refused the recipient
    (Rcpt, "555 syntax error (#5.5.4)", Recipient),
    // qmail-smtpd.c err_syntax() from smtp_mail(): addrparse() refused the sender
    (Mail, "555 syntax error (#5.5.4)", Sender),
    // ucspi-tcp rblsmtpd.c rblsmtpd(): greets "220 rblsmtpd.local", takes MAIL, answers every RCPT
    // with "451 " and the list's TXT record
    (Rcpt, "451 https://www.spamhaus.org/query/ip/203.0.113.9", Client),

    // ===== OpenSMTPD ======================================================
    // usr.sbin/smtpd/lka_session.c "550 Invalid recipient" + smtp_session.c "%s: <%s>": the answer
    // both to an unknown user and to a relay it will not do
    (Rcpt, "550 Invalid recipient: <relaycheck@example.net>", Recipient),
    // smtp_session.c smtp_check_rcpt_to()
    (Rcpt, "501 5.1.3 Recipient address syntax error", Recipient),
    // smtp_session.c smtp_check_mail_from()
    (Mail, "553 5.1.0 Sender address syntax error", Sender),
    // smtp_session.c smtp_check_mail_from(), listener with `tls-require`
    (Mail, "530 5.5.1 Invalid command: Must issue a STARTTLS command first", Security),
    // smtp_session.c smtp_check_mail_from(), listener with `auth` required
    (Mail, "530 5.5.1 Invalid command: Must issue an AUTH command first", Security),
    // smtp_session.c smtp_check_ehlo(): valid_domainpart() refused the name
    (Helo, "501 5.5.4 Invalid command arguments: Invalid domain name", Greeting),
    // smtp_session.c smtp_check_rcpt_to(), max-rcpt
    (Rcpt, "451 4.5.3 Too many recipients: Too many recipients", Limit),
    // smtp_session.c smtp_check_mail_from(), session max-mails
    (Mail, "452 4.5.3 Too many recipients: Too many messages sent", Limit),
    // smtp_session.c IMSG_SMTP_CHECK_SENDER LKA_PERMFAIL: the sender table refused the sender of an
    // authenticated session. Its code is 530, yet it asks for no TLS or login
    (Mail, "530 Sender rejected", Sender),

    // ===== Microsoft Exchange 4.0-5.5, 2000-2003, Windows SMTP service ====
    // KB Q304897: "the server responds with an error message that is similar to"
    (Rcpt, "550 5.7.1 Relaying prohibited", Relay),
    // KB Q304897 Relay Tests 1-5 (Exchange 2000/2003, Windows 2000 SMTP service / IIS SMTP)
    (Rcpt, "550 5.7.1 Unable to relay for relaycheck@example.net", Relay),

    // ===== Microsoft Exchange 2007-2019 ===================================
    // SmtpResponse.RcptRelayNotPermitted
    (Rcpt, "550 5.7.1 Unable to relay", Relay),
    // Exchange 2013-2019 front end; Microsoft Q&A 305565 "Exchange 2016: Default Frontend Connector", by telnet
    (Rcpt, "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain", Relay),
    // SmtpResponse.RcptNotFound; the telnet page's RCPT failure response
    (Rcpt, "550 5.1.1 User unknown", Recipient),
    // SmtpResponse.InvalidAddress
    (Rcpt, "501 5.1.3 Invalid address", Recipient),
    // SmtpResponse.InvalidSenderAddress
    (Mail, "501 5.1.7 Invalid address", Sender),
    // the telnet page's MAIL FROM failure response
    (Mail, "550 5.1.7 Invalid address", Sender),
    // the telnet page's MAIL FROM failure response: the connector takes no anonymous mail
    (Mail, "530 5.7.1 Client was not authenticated", Security),
    // SmtpResponse.NotAuthenticated
    (Mail, "530 5.7.1 Not authenticated", Security),
    // SmtpResponse.InvalidEhloDomain; the telnet page's EHLO failure response
    (Helo, "501 5.5.4 Invalid domain name", Greeting),
    // ConnectionFilteringAgent.DefaultErrorMessage (IP Block List Providers), CreateSmtpRejectionResponse 550 5.7.1
    (Rcpt, "550 5.7.1 Recipient not authorized, your IP has been found on a block list", Client),
    // IPBlockListConfig.DefaultStaticRejectionResponse (IP Block List), answered to MAIL
    (Mail, "550 5.7.1 External client with IP address 203.0.113.9 does not have permissions to submit to this server.", Client),
    // SmtpResponse.TooManyConnectionsPerSource (MaxInboundConnectionPerSource)
    (Banner, "421 4.3.2 The maximum number of concurrent connections has exceeded a limit, closing transmission channel", Limit),
    // SmtpResponse.TooManyConnections (MaxInboundConnection)
    (Banner, "421 4.3.2 The maximum number of concurrent server connections has exceeded a limit, closing transmission channel", Limit),
    // SmtpResponse.TooManyProtocolErrors (MaxProtocolErrors)
    (Rcpt, "421 4.7.0 Too many errors on this connection, closing transmission channel", Limit),
    // SmtpResponse.TooManyRecipients (MaxRecipientsPerMessage)
    (Rcpt, "452 4.5.3 Too many recipients", Limit),
    // SmtpResponse.MessageRateLimitExceeded (MessageRateLimit): 4.4.2, a network code, for a rate
    (Mail, "421 4.4.2 Message submission rate for this client has exceeded the configured limit", Limit),
    // SmtpResponse.ServiceUnavailable (back pressure)
    (Banner, "421 4.3.2 Service not available", Limit),
    // SmtpResponse.InsufficientResource (back pressure)
    (Mail, "452 4.3.1 Insufficient system resources", Limit),

    // ===== Microsoft 365 / Exchange Online ================================
    // NDR page, 5.7.606-649 (learn.microsoft.com quotes it with the range; one code of it here)
    (Mail, "550 5.7.606 Access denied, banned sending IP [203.0.113.9]; To request removal from this list please visit https://sender.office.com/ and follow the directions.", Client),
    // NDR page 5.7.511: "banned sender" here is the sending IP
    (Mail, "550 5.7.511 Access denied, banned sender", Client),
    // NDR page 5.7.513
    (Rcpt, "550 5.7.513 Service unavailable, Client host [203.0.113.9] blocked by example.org using Customer Block list (AS16012607)", Client),
    // NDR page 5.7.507: the recipient's organization blocked the sending IP
    (Rcpt, "550 5.7.507 Access denied, rejected by recipient", Client),
    // NDR page 5.7.506: the client greeted with the server's own name
    (Mail, "550 5.7.506 Access Denied, Bad HELO", Greeting),
    // NDR page 5.7.508: an IPv6 sending range went over its rate (5.7.508 is NOT a sender code)
    (Mail, "550 5.7.508 Access denied, [2001:db8::9] has exceeded permitted limits within /64 range", Limit),
    // NDR page 5.7.510: the recipient's tenant takes no mail over IPv6
    (Mail, "550 5.7.510 Access denied, [example.org] does not accept email over IPv6", Client),
    // NDR page 5.7.509 (given after DATA, where the From: header is known; upper case as EOP writes it)
    (Rcpt, "550 5.7.509 Access denied, sending domain [EXAMPLE.COM] does not pass DMARC verification and has a DMARC policy of reject.", Sender),
    // NDR page 5.7.23
    (Rcpt, "550 5.7.23 The message was rejected because of Sender Policy Framework violation", Sender),
    // NDR page 5.7.57, in the form EOP sends it (easy365manager.com "Office 365 NDR error codes")
    (Mail, "530 5.7.57 SMTP; Client was not authenticated to send anonymous mail during MAIL FROM", Security),
    // NDR page 5.4.1 "Relay Access Denied": the MX does not take mail for that domain
    (Rcpt, "550 5.4.1 Relay Access Denied", Relay),
    // NDR page 5.4.1 / 5.7.504 "Recipient address rejected: Access denied": Directory Based Edge Blocking
    (Rcpt, "550 5.4.1 Recipient address rejected: Access denied", Recipient),
    // NDR page 5.7.64
    (Rcpt, "550 5.7.64 TenantAttribution; Relay Access Denied", Relay),
    // "Fix email delivery issues for error code 550 5.1.10 in Exchange Online": 5.1.10 is a MAILBOX here
    (Rcpt, "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", Recipient),
    // NDR page 5.5.0 (outlook.com / hotmail.com recipients)
    (Rcpt, "550 5.5.0 Requested action not taken: mailbox unavailable", Recipient),
    // NDR page 5.1.0; also the Exchange Sender Filter agent
    (Mail, "554 5.1.0 Sender denied", Sender),
    // smtp.codes "Exchange Online Protection" (EOP checks the sending IP against Spamhaus)
    (Rcpt, "550 5.7.1 Service unavailable, Client host [203.0.113.9] blocked using Spamhaus. (AS16012611)", Client),
    // smtp.codes "Exchange Online Protection": the GREETING name is on Spamhaus's domain list
    (Rcpt, "550 5.7.1 Service unavailable, Helo domain is listed in Spamhaus. (S8001)", Greeting),
    // smtp.codes "Exchange Online Protection"; "Fix email delivery issues for error code 451
    // 5.7.500-699 (ASxxx)": IP throttling of a new sender
    (Mail, "451 4.7.500 Server busy. Please try again later from [203.0.113.9]. (AS77712344)", Limit),
    // NDR page 4.7.500-699 "Access denied, please try again later": temporarily restricted
    (Mail, "451 4.7.500 Access denied, please try again later", Limit),
    // Outlook.com, in reply to MAIL FROM (p5-sisimai lib/Sisimai/Rhost/Microsoft.pm)
    (Mail, "451 4.7.650 The mail server [203.0.113.9] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775)", Limit),
    // Outlook.com (p5-sisimai Rhost/Microsoft.pm)
    (Rcpt, "550 5.7.1 Unfortunately, messages from [203.0.113.9] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).", Client),

    // ===== Gmail / Google Workspace =======================================
    // Gmail SMTP errors and codes, 550 5.1.1, as Gmail wraps it (session id varies)
    (Rcpt, "550-5.1.1 The email account that you tried to reach does not exist. Please try\n550-5.1.1 double-checking the recipient's email address for typos or\n550-5.1.1 unnecessary spaces. For more information, go to\n550 5.1.1  https://support.google.com/mail/?p=NoSuchUser 98e67ed59e1d1-2c819db36a9si6099002a91.116 - gsmtp", Recipient),
    // Gmail SMTP errors and codes, 553 5.1.2 (BadRcptDomain)
    (Rcpt, "553 5.1.2 We weren't able to find the recipient domain. Please check for any spelling errors, and make sure you didn't enter any spaces, periods, or other punctuation after the recipient's email address.", RecipientDomain),
    // Gmail SMTP errors and codes, 553 5.1.3
    (Rcpt, "553 5.1.3 The recipient address <relaycheck@example> is not a valid RFC 5321 address.", Recipient),
    // Gmail SMTP errors and codes, 553 5.1.7
    (Mail, "553 5.1.7 The sender address <relaycheck@example> is not a valid RFC 5321 address.", Sender),
    // Gmail SMTP errors and codes, 550 5.2.1 (DisabledUser)
    (Rcpt, "550 5.2.1 The email account that you tried to reach is inactive. For more information, go to https://support.google.com/mail/?p=DisabledUser", Recipient),
    // Gmail SMTP errors and codes, 450 4.2.1: the MAILBOX's receiving rate; 4.2.1 is a mailbox code
    (Rcpt, "450 4.2.1 The user you are trying to contact is receiving mail too quickly. Please resend your message at a later time. If the user is able to receive mail at that time, your message will be delivered. For more information, visit https://support.google.com/mail/answer/22839", Limit),
    // Gmail SMTP errors and codes, 452 4.5.3
    (Rcpt, "452 4.5.3 Your message has too many recipients. For more information regarding Google's sending limits, visit https://support.google.com/mail/answer/6592", Limit),
    // Gmail SMTP errors and codes, 421 4.7.0: a Workspace domain that takes mail only from listed IPs
    (Rcpt, "421 4.7.0 IP not in whitelist for RCPT domain, closing connection.", Client),
    // Gmail SMTP errors and codes, 421 4.7.0: the recipient's domain requires TLS
    (Rcpt, "421 4.7.0 TLS required for RCPT domain, closing connection.", Security),
    // Gmail SMTP errors and codes, 421 4.7.0 "Try again later, closing connection. This usually
    // indicates a Denial of Service (DoS) for the SMTP relay at the HELO stage."
    (Helo, "421 4.7.0 Try again later, closing connection.", Limit),
    // Gmail SMTP errors and codes, 501 5.5.4 (p=helo)
    (Helo, "501 5.5.4 HELO/EHLO argument is invalid.", Greeting),
    // Gmail SMTP errors and codes, 501 5.5.4
    (Helo, "501 5.5.4 Empty HELO/EHLO argument not allowed, closing connection.", Greeting),
    // Gmail's 4.7.28 rate limit as it sends it (talk.plesk.com thread 361840 quotes it; the
    // wrapping is Gmail's)
    (Mail, "421-4.7.28 [203.0.113.9] Our system has detected an unusual rate of\n421-4.7.28 unsolicited mail originating from your IP address. To protect our\n421-4.7.28 users from spam, mail sent from your IP address has been temporarily\n421-4.7.28 rate limited. Please visit\n421-4.7.28 https://support.google.com/mail/?p=UnsolicitedRateLimitError to\n421 4.7.28 review our Bulk Email Senders Guidelines. - gsmtp", Limit),
    // Gmail SMTP errors and codes, 550 5.7.1: the same detection, permanent: the IP is blocked
    (Mail, "550 5.7.1 Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been blocked. Review https://support.google.com/mail/answer/81126", Client),
    // Gmail SMTP errors and codes, 550 5.7.25
    (Mail, "550 5.7.25 The IP address sending this message does not have a PTR record setup, or the corresponding forward DNS entry does not point to the sending IP. As a policy, Gmail does not accept messages from IPs with missing PTR records.", Client),
    // Gmail SMTP errors and codes, 421 4.7.0: "rate limited", but for the client's missing PTR
    (Mail, "421 4.7.0 The IP address sending this message does not have a PTR record, or the corresponding forward DNS entry does not point to the sending IP. To protect our users from spam, mail sent from your IP address has been temporarily rate limited.", Client),
    // Gmail SMTP errors and codes, 550 5.7.1 (NotAuthorizedError): a dynamic or unlisted IP; the
    // word "relay" here is advice, not the refusal
    (Mail, "550 5.7.1 The IP you're using to send mail is not authorized to send email directly to our servers. Use the SMTP relay at your service provider instead.", Client),
    // "SMTP relay service error messages" (support.google.com/a/answer/6140680): smtp-relay.gmail.com
    (Rcpt, "550 5.7.0 Mail relay denied [203.0.113.9]. Invalid credentials for relay for one of the domains in: example.com (as obtained from HELO and MAIL FROM). Email is being sent from a domain or IP address which isn't registered in your Workspace account. Please login to your Workspace account and verify that your sending device IP address has been registered within the Workspace SMTP Relay Settings. For more information, go to SMTP relay service error messages.", Relay),
    // Gmail's DMARC refusal as sent (p5-sisimai set-of-emails lhost-qmail-14.eml; after DATA)
    (Rcpt, "550-5.7.26 Unauthenticated email from example.com is not accepted due to domain's\n550-5.7.26 DMARC policy. Please contact the administrator of example.com domain if\n550-5.7.26 this was a legitimate mail. To learn about the DMARC initiative, go\n550-5.7.26 to\n550 5.7.26  https://support.google.com/mail/?p=DmarcRejection 98e67ed59e1d1-2c819db36a9si6099002a91.116 - gsmtp", Sender),
    // Gmail SMTP errors and codes, 530 5.7.0
    (Mail, "530 5.7.0 Must issue a STARTTLS command first.", Security),

    // ===== Yahoo / AOL (senders.yahooinc.com/smtp-error-codes, via p5-sisimai Rhost/YahooInc.pm) ==
    // Yahoo error codes page, [BL21] (p5-sisimai Rhost/YahooInc.pm quotes it)
    (Mail, "553 5.7.1 [BL21] Connections will not be accepted from 203.0.113.9, because the ip is in Spamhaus's list; see http://postmaster.yahoo.com/550-bl23.html", Client),
    // Yahoo error codes page, [BL23] (p5-sisimai Rhost/YahooInc.pm)
    (Mail, "553 5.7.1 [BL23] Connections not accepted from IP addresses on Spamhaus XBL; see http://postmaster.yahoo.com/errors/550-bl23.html [550]", Client),
    // "in reply to MAIL FROM command": the client's volume, for now
    (Mail, "421 4.7.0 [TSS04] Messages from 203.0.113.9 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes", Limit),
    // the client, for good
    (Mail, "553 5.7.2 [TSS09] All messages from 203.0.113.9 will be permanently deferred; Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes", Client),
    // Yahoo/AOL MX, a recipient outside its domains (p5-sisimai Rhost/YahooInc.pm "relaying denied for ")
    (Rcpt, "550 relaying denied for <relaycheck@example.net>", Relay),
    // Yahoo, the recipient mailbox's receiving rate (p5-sisimai Rhost/YahooInc.pm, speeding)
    (Rcpt, "450 User is receiving mail too quickly", Limit),
    // Yahoo, messages per connection (p5-sisimai Rhost/YahooInc.pm, toomanyconn)
    (Mail, "421 Max message per connection reached, closing transmission channel", Limit),
    // Yahoo, no such mailbox (p5-sisimai Rhost/YahooInc.pm, userunknown)
    (Rcpt, "554 delivery error: dd This user doesn't have a yahoo.com account (relaycheck-nx@yahoo.com)", Recipient),

    // ===== Apple iCloud Mail (support.apple.com/en-us/102322, via p5-sisimai Rhost/Apple.pm) ====
    // iCloud, the client is on Spamhaus SBL (p5-sisimai Rhost/Apple.pm, blocked)
    (Mail, "550 5.7.1 Mail from IP 203.0.113.9 was rejected due to listing in Spamhaus SBL. For details please see http://www.spamhaus.org/query/bl?ip=203.0.113.9", Client),
    // iCloud's Proofpoint front: "Blocked - see" with the lookup address
    (Mail, "550 5.7.0 Blocked - see https://support.proofpoint.com/dnsbl-lookup.cgi?ip=203.0.113.9", Client),
    // iCloud, the recipient's receiving volume (p5-sisimai Rhost/Apple.pm, speeding)
    (Rcpt, "421 4.7.1 Messages to relaycheck-nx@icloud.com deferred due to excessive volume. Try again later - https://support.apple.com/en-us/HT204137", Limit),
    // iCloud, no such mailbox (p5-sisimai Rhost/Apple.pm, userunknown)
    (Rcpt, "550 5.1.1 <relaycheck-nx@icloud.com>: inactive email address", Recipient),

    // ===== Proofpoint =====================================================
    // a Proofpoint-protected MX as a verifier met it (reacherhq parser.rs; the double spaces are its)
    (Mail, "550 5.7.0  Mail from 203.0.113.9 refused by Proofpoint Reputation Services.  SENDER please see and take action: https://support.proofpoint.com/dnsbl-lookup.cgi?203.0.113.9", Client),

    // ===== Mimecast (Mimecast SMTP Error Codes, via p5-sisimai Rhost/Mimecast.pm) ====
    // both sender and recipient outside Mimecast's customers: a relay refusal, with a 4xx code
    (Rcpt, "451 Open relay not allowed", Relay),
    // Mimecast SMTP Error Codes, 550 Invalid Recipient (the form a bounce classifier test quotes)
    (Rcpt, "550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550", Recipient),
    // greylisting or a poor IP reputation, for now
    (Rcpt, "451 Internal resources are temporarily unavailable", Limit),
    // reacherhq parser.rs: "Poor Reputation Sender" is the sending IP's reputation
    (Mail, "550 csi.mimecast.org Poor Reputation Sender. - https://community.mimecast.com/docs/DOC-1369#550", Client),
    // Mimecast SMTP Error Codes, 554 "host network not allowed" (p5-sisimai Rhost/Mimecast.pm)
    (Banner, "554 Host network not allowed", Client),

    // ===== Cisco Secure Email (IronPort) ==================================
    // the default HAT REJECT banner, as a Postfix client logs it ("refused to talk to me: 554-...")
    (Banner, "554-mx.example.org\n554 Your access to this mail system has been rejected due to the sending MTA's poor reputation. If you believe that this failure is in error, please contact the intended recipient via alternate means.", Client),

    // ===== Barracuda ======================================================
    // Barracuda Reputation (luxsci.com/blog/?p=16857 and tig.csail.mit.edu EmailBlockedByBarracuda)
    (Rcpt, "554 Service unavailable; Client host [203.0.113.9] blocked using Barracuda Reputation; http://bbl.barracudacentral.com/q.cgi?ip=203.0.113.9", Client),

    // ===== Haraka =========================================================
    // connection.js rcpt_respond(): no plugin accepted the recipient (no relaying, no local domain)
    (Rcpt, "550 I cannot deliver mail for <relaycheck@example.net>", Relay),
    // connection.js connect_respond(): a connect hook said DENY without a message
    (Banner, "554 Your mail is not welcome here", Unspecified),
    // connection.js connect_respond(): a connect hook said DENYSOFT without a message
    (Banner, "421 Come back later", Limit),
    // haraka-plugin-dns-list index.js onConnect(): "host [<ip>] is listed on <zones>"
    (Banner, "554 host [203.0.113.9] is listed on zen.spamhaus.org", Client),
    // haraka-plugin-limit index.js, concurrency: penalize() with DENYSOFTDISCONNECT
    (Banner, "421 Too many concurrent connections", Limit),
    // haraka-plugin-limit index.js rate_rcpt_host_enforce(): penalize() with DENYSOFT
    (Rcpt, "450 recipient rate limit exceeded", Limit),
    // haraka-plugin-helo.checks index.js valid_hostname(); connection.js helo_respond() DENY = 550
    (Helo, "550 HELO host name invalid", Greeting),
    // haraka-plugin-helo.checks index.js match_re()
    (Helo, "550 That HELO not allowed here", Greeting),

    // ===== Courier ========================================================
    // courier/module.esmtp/esmtp.C: neither RELAYCLIENT nor a local domain (code 513 is Courier's)
    (Rcpt, "513 Relaying denied.", Relay),

    // ===== hMailServer ====================================================
    // source/Server/SMTP/SMTPConnection.cpp ProtocolRCPT(): the IP range does not allow this relay
    (Rcpt, "550 Delivery is not allowed to this address.", Relay),
    // SMTPConnection.cpp ProtocolRCPT(): the IP range requires SMTP AUTH for this delivery
    (Rcpt, "530 SMTP authentication is required.", Security),
    // RecipientParser.cpp CONST_UNKNOWN_USER
    (Rcpt, "550 Unknown user", Recipient),
    // SMTPConnection.cpp ProtocolRCPT(): greylisting
    (Rcpt, "451 Please try again later.", Limit),

    // ===== IceWarp ("Interpretation of 5xx Errors in Icewarp SMTP", docs.icewarp.com) ====
    // IceWarp 5xx table: "501 5.5.1 HELO/EHLO requires domain address"
    (Helo, "501 5.5.1 HELO/EHLO requires domain address", Greeting),
    // IceWarp 5xx table: "501 5.5.2 Domain name required" (sender without a domain)
    (Mail, "501 5.5.2 Domain name required", Sender),

    // ===== Orange / La Poste (via p5-sisimai Rhost/FrancePTT.pm) ==========
    // Orange OFR005_104 (p5-sisimai Rhost/FrancePTT.pm; postmastery.com orange-postmaster-smtp-error-codes-ofr)
    (Banner, "421 mwinf5c79 ME Trop de connexions, veuillez verifier votre configuration. Too many connections, slow down. OFR005_104 [104]", Limit),
    // Orange OFR006_102, the client IP is blocked (p5-sisimai Rhost/FrancePTT.pm; the page goes on with a Cloudmark link)
    (Banner, "550 mwinf5c04 ME Adresse IP source bloquee pour incident de spam. Client host blocked for spamming issues. OFR006_102", Client),

    // ===== GoDaddy ("What does my email bounceback mean?", via p5-sisimai Rhost/GoDaddy.pm) ====
    // GoDaddy IB007 (p5-sisimai Rhost/GoDaddy.pm; godaddy.com/help/what-does-my-email-bounceback-mean-3568)
    (Banner, "421 Connection refused, too many sessions from This IP. Lower the number of concurrent sessions. IB007", Limit),
    // GoDaddy IB108: the client has no reverse DNS
    (Banner, "421 Temporarily rejected. Reverse DNS for this IP failed. IB108", Client),

    // ===== RFC 5321 ========================================================
    // §3.1: a server that will not serve this client opens with 554 (the RFC's own example text)
    (Banner, "554 No SMTP service here", Unspecified),
    // §4.2.2: the reply text the RFC gives for 554, which some servers send as it is
    (Rcpt, "554 Transaction failed", Unspecified),
];

/// The reply a server sends as `text` (lines joined by `\n`): the code of
/// its first line, and each line's text after the code and the space or dash.
fn reply(text: &str) -> Reply {
    let code: u16 = text[..3].parse().expect("each line of the table starts with a reply code");
    let lines = text
        .split('\n')
        .map(|line| match line.get(3..4) {
            None => String::new(),
            Some(" ") | Some("-") => line[4..].to_string(),
            Some(_) => line.to_string(),
        })
        .collect();
    Reply::new(code, lines)
}

#[test]
fn every_real_refusal_is_read_for_what_it_refuses() {
    let mut wrong = Vec::new();
    for (stage, text, want) in TABLE {
        let got = classify(*stage, &reply(text));
        if got != *want {
            wrong.push(format!("{stage:?} {text:?}: read as {got:?}, is {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} misread:\n{}", wrong.len(), TABLE.len(), wrong.join("\n"));
}

#[test]
fn the_table_is_big_enough() {
    assert!(TABLE.len() >= 60);
}

/// Each line of the table is a negative reply as the wire carries it, and the
/// reply parser reads it as `reply()` does.
#[test]
fn every_line_of_the_table_is_a_refusal_as_sent() {
    for (_, text, _) in TABLE {
        let code = &text[..3];
        assert!(matches!(code.as_bytes()[0], b'4' | b'5'), "not a refusal: {text:?}");
        let lines: Vec<&str> = text.split('\n').collect();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { " " } else { "-" };
            assert!(line.starts_with(code) && line.get(3..4).is_none_or(|s| s == sep), "{text:?}, line {i}");
        }
        let mut parser = ReplyParser::new(ReplyLimits::default());
        parser.push(format!("{}\r\n", lines.join("\r\n")).as_bytes());
        assert_eq!(parser.next_reply(), Some(Ok(reply(text))), "{text:?}");
    }
}
