//! Where the bridge may connect: the destination policy.
//!
//! The bridge turns a web page's websocket into a TCP connection. Without a
//! policy it would be an open proxy into whatever network it runs in, so every
//! destination passes through [`Policy::check`] after DNS resolution:
//!
//! - the port must be one of the allowed mail ports (25, 465, 587 by default);
//! - **every** resolved address must pass [`check_address`]; one denied address
//!   refuses the whole name, because a name that resolves to both a public and
//!   a private address is a DNS-rebinding trick;
//! - the caller then connects only to the addresses that were checked.
//!
//! The only way around the address and port rules is an exact `--allow-target
//! HOST:PORT` entry ([`AllowTarget`]), which is how tests and the built-in lab
//! reach servers on loopback.
//!
//! [`check_address`] is a table lookup: [`V4_DENY`] and [`V6_DENY`] list
//! (network, prefix length, kind) rows, and the most specific (longest-prefix)
//! matching row decides. IPv6 forms that embed an IPv4 address (IPv4-mapped,
//! IPv4-compatible, NAT64, 6to4, Teredo) are rows too; their embedded IPv4
//! address is checked against the IPv4 table.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use relay_core::ErrorCode;

/// The mail ports the bridge connects to unless configured otherwise.
pub const DEFAULT_PORTS: [u16; 3] = [25, 465, 587];

/// Why an address is not a destination the bridge connects to.
///
/// `Display` is one sentence for a mail administrator, naming the address,
/// what kind of address it is, and that the bridge never connects there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// `0.0.0.0`, `::`: connecting there reaches this machine.
    Unspecified(IpAddr),
    /// `127.0.0.0/8`, `::1`.
    Loopback(IpAddr),
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`.
    Private(IpAddr),
    /// `169.254/16`, `fe80::/10`.
    LinkLocal(IpAddr),
    /// RFC 6598 shared address space `100.64/10` (carrier-grade NAT).
    SharedCgnat(IpAddr),
    /// `fc00::/7`.
    UniqueLocal(IpAddr),
    /// `224/4`, `ff00::/8`.
    Multicast(IpAddr),
    /// Documentation, benchmarking, future use, broadcast, IETF protocol
    /// assignments, 6bone, ORCHID, everything outside IPv6 global unicast...
    /// `what` is a noun phrase naming the range ("a documentation address").
    Reserved { addr: IpAddr, what: &'static str },
    /// An IPv6 address that embeds an IPv4 address which is itself denied.
    Embedded { addr: Ipv6Addr, form: Embedding, inner: Box<Denied> },
    /// An IPv6 transition form refused outright even though its embedded IPv4
    /// address is public (see [`Embedding`] for which forms and why).
    Transition { addr: Ipv6Addr, form: Embedding },
    /// In a network the bridge's own interfaces are on: mail servers often
    /// trust their neighbours (Postfix's `mynetworks_style = subnet`).
    OwnNetwork(IpAddr),
    /// In a block the operator denied with `--deny`.
    Configured(IpAddr),
    /// Not one of the addresses an `--allow-target` name had when the
    /// bridge started: the name was opened, not whatever it points to later.
    NotPinned(IpAddr),
}

/// The ways an IPv6 address can carry an IPv4 address.
///
/// Policy when the embedded IPv4 address is public:
/// - `Ipv4Mapped` (`::ffff:0:0/96`) is allowed: a dual-stack socket connecting
///   to `::ffff:a.b.c.d` simply connects to `a.b.c.d`, which has passed.
/// - `Nat64` (`64:ff9b::/96`, RFC 6052) is allowed: on an IPv6-only host with
///   DNS64 this is how every IPv4-only mail server resolves, and the
///   translator connects to the embedded address, which has passed.
/// - `Ipv4Compatible` (`::a.b.c.d`) is refused: deprecated since 2006
///   (RFC 4291), never legitimately in DNS, and on hosts with automatic
///   tunnels (`sit0`) it turns into IPv4 encapsulation.
/// - `Nat64LocalUse` (`64:ff9b:1::/48`, RFC 8215) is refused: the operator
///   chooses where the IPv4 address sits inside it, so the bridge cannot be
///   sure which IPv4 host the translator would reach. Only the most common
///   layout (last 32 bits) is read, to name a denied address when there is one.
/// - `SixToFour` (`2002::/16`) and `Teredo` (`2001::/32`) are refused: they are
///   tunnels whose packets are delivered, decapsulated, to the embedded IPv4
///   host and forwarded from there, so what they reach depends on the tunnel
///   endpoints, not on the address the bridge checked. 6to4 relays are
///   deprecated (RFC 7526) and Teredo is a client-side NAT traversal; no mail
///   server worth auditing is reachable only through either, so refusing them
///   costs nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Embedding {
    Ipv4Mapped,
    Ipv4Compatible,
    Nat64,
    Nat64LocalUse,
    SixToFour,
    /// Both the server (bits 32..64) and the client (last 32 bits, inverted)
    /// IPv4 addresses are checked.
    Teredo,
}

impl Embedding {
    /// The name with its article, as in "is an IPv4-mapped form of".
    fn with_article(self) -> &'static str {
        match self {
            Embedding::Ipv4Mapped => "an IPv4-mapped",
            Embedding::Ipv4Compatible => "an IPv4-compatible",
            Embedding::Nat64 => "a NAT64",
            Embedding::Nat64LocalUse => "a local-use NAT64",
            Embedding::SixToFour => "a 6to4",
            Embedding::Teredo => "a Teredo",
        }
    }

    /// The IPv4 addresses this form carries in `addr`, most relevant first.
    fn embedded(self, addr: Ipv6Addr) -> Vec<Ipv4Addr> {
        let bits = u128::from(addr);
        let low32 = Ipv4Addr::from(bits as u32);
        match self {
            Embedding::Ipv4Mapped | Embedding::Ipv4Compatible | Embedding::Nat64 | Embedding::Nat64LocalUse => {
                vec![low32]
            }
            // 2002:AABB:CCDD::/48 carries AA.BB.CC.DD in bits 16..48.
            Embedding::SixToFour => vec![Ipv4Addr::from((bits >> 80) as u32)],
            // 2001:0:SSSS:SSSS:flags:port:CCCC:CCCC; the client address (where
            // packets go) is stored inverted, the server address as is.
            Embedding::Teredo => vec![Ipv4Addr::from(!(bits as u32)), Ipv4Addr::from((bits >> 64) as u32)],
        }
    }

    /// Whether the form is allowed when every embedded address is public.
    fn allowed_when_public(self) -> bool {
        matches!(self, Embedding::Ipv4Mapped | Embedding::Nat64)
    }
}

impl fmt::Display for Embedding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.with_article();
        f.write_str(name.split_once(' ').map_or(name, |(_, n)| n))
    }
}

impl Denied {
    /// The address that was checked (for embedded forms, the IPv6 address).
    pub fn addr(&self) -> IpAddr {
        match self {
            Denied::Unspecified(a)
            | Denied::Loopback(a)
            | Denied::Private(a)
            | Denied::LinkLocal(a)
            | Denied::SharedCgnat(a)
            | Denied::UniqueLocal(a)
            | Denied::Multicast(a)
            | Denied::Reserved { addr: a, .. } => *a,
            Denied::Embedded { addr, .. } | Denied::Transition { addr, .. } => IpAddr::V6(*addr),
            Denied::OwnNetwork(a) | Denied::Configured(a) | Denied::NotPinned(a) => *a,
        }
    }

    /// What kind of address it is, as a noun phrase ("a private address").
    fn phrase(&self) -> &'static str {
        match self {
            Denied::Unspecified(_) => "the unspecified address, which means this machine",
            Denied::Loopback(_) => "a loopback address",
            Denied::Private(_) => "a private address",
            Denied::LinkLocal(_) => "a link-local address",
            Denied::SharedCgnat(_) => "a shared carrier-grade NAT address",
            Denied::UniqueLocal(_) => "a unique-local (private) IPv6 address",
            Denied::Multicast(_) => "a multicast address",
            Denied::Reserved { what, .. } => what,
            Denied::Embedded { inner, .. } => inner.phrase(),
            Denied::OwnNetwork(_) => "an address of the bridge's own network",
            Denied::Configured(_) => "an address this bridge's operator denies",
            Denied::NotPinned(_) => "an address the allowed target did not have when the bridge started",
            Denied::Transition { form, .. } => match form {
                Embedding::Ipv4Compatible => "a deprecated IPv4-compatible address",
                Embedding::Nat64LocalUse => "a local-use NAT64 address whose IPv4 part the bridge cannot locate",
                Embedding::SixToFour => "a 6to4 tunnel address",
                Embedding::Teredo => "a Teredo tunnel address",
                // Never constructed: these forms are allowed when public.
                Embedding::Ipv4Mapped | Embedding::Nat64 => "an IPv6 form of an IPv4 address",
            },
        }
    }

    /// What kind of address it is and the rule, without the address itself:
    /// what the bridge tells the page and API callers, so that it never maps
    /// a network's internal DNS for them ("a private address; the bridge
    /// never connects into private networks").
    pub fn kind_sentence(&self) -> String {
        match self {
            Denied::Embedded { form, inner, .. } => {
                format!("{} form of {}; {}", form.with_article(), inner.phrase(), self.never())
            }
            _ => format!("{}; {}", self.phrase(), self.never()),
        }
    }

    /// The rule, as the second half of the sentence.
    fn never(&self) -> &'static str {
        match self {
            Denied::Unspecified(_) | Denied::Loopback(_) => "the bridge never connects to its own machine",
            Denied::Private(_) | Denied::UniqueLocal(_) => "the bridge never connects into private networks",
            Denied::LinkLocal(_) => "the bridge never connects to its own network segment",
            Denied::SharedCgnat(_) => "the bridge never connects into a provider's internal network",
            Denied::Multicast(_) => "the bridge never connects to multicast groups",
            Denied::Reserved { .. } => "the bridge never connects to reserved addresses",
            Denied::Embedded { inner, .. } => inner.never(),
            Denied::Transition { .. } => "the bridge never connects through IPv6 transition mechanisms",
            Denied::OwnNetwork(_) => "the bridge never connects to its neighbours, which may trust it",
            Denied::Configured(_) => "the bridge never connects there",
            Denied::NotPinned(_) => "the bridge reaches an allowed target only at the addresses it checked at start-up",
        }
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denied::Embedded { addr, form, inner } => write!(
                f,
                "{addr} is {} form of {}, {}; {}",
                form.with_article(),
                inner.addr(),
                self.phrase(),
                self.never()
            ),
            _ => write!(f, "{} is {}; {}", self.addr(), self.phrase(), self.never()),
        }
    }
}

/// What a row of the deny tables means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Unspecified,
    Loopback,
    Private,
    LinkLocal,
    SharedCgnat,
    UniqueLocal,
    Multicast,
    /// A noun phrase naming the reserved use.
    Reserved(&'static str),
    /// Not denied by itself: the embedded IPv4 address decides (see [`Embedding`]).
    Embeds(Embedding),
}

impl Kind {
    fn deny(self, addr: IpAddr) -> Denied {
        match self {
            Kind::Unspecified => Denied::Unspecified(addr),
            Kind::Loopback => Denied::Loopback(addr),
            Kind::Private => Denied::Private(addr),
            Kind::LinkLocal => Denied::LinkLocal(addr),
            Kind::SharedCgnat => Denied::SharedCgnat(addr),
            Kind::UniqueLocal => Denied::UniqueLocal(addr),
            Kind::Multicast => Denied::Multicast(addr),
            Kind::Reserved(what) => Denied::Reserved { addr, what },
            Kind::Embeds(_) => unreachable!("embedding rows are resolved by check_v6"),
        }
    }
}

const DOCUMENTATION: Kind = Kind::Reserved("a documentation address");
const BENCHMARKING: Kind = Kind::Reserved("a benchmarking address");
const PROTOCOL_ASSIGNMENT: Kind = Kind::Reserved("an IETF protocol-assignment address");
const NOT_GLOBAL_V6: Kind = Kind::Reserved("an address outside IPv6 global unicast (2000::/3)");

/// IPv4 ranges the bridge never connects to. The longest matching prefix wins.
/// Sources: the IANA IPv4 Special-Purpose Address Registry (RFC 6890 and later).
#[rustfmt::skip]
const V4_DENY: &[(Ipv4Addr, u8, Kind)] = &[
    (Ipv4Addr::new(0, 0, 0, 0),         32, Kind::Unspecified),
    (Ipv4Addr::new(0, 0, 0, 0),          8, Kind::Reserved("a \"this network\" address")),
    (Ipv4Addr::new(10, 0, 0, 0),         8, Kind::Private),
    (Ipv4Addr::new(100, 64, 0, 0),      10, Kind::SharedCgnat),
    (Ipv4Addr::new(127, 0, 0, 0),        8, Kind::Loopback),
    (Ipv4Addr::new(169, 254, 0, 0),     16, Kind::LinkLocal),
    (Ipv4Addr::new(172, 16, 0, 0),      12, Kind::Private),
    (Ipv4Addr::new(192, 0, 0, 0),       24, PROTOCOL_ASSIGNMENT),
    (Ipv4Addr::new(192, 0, 2, 0),       24, DOCUMENTATION),   // TEST-NET-1
    (Ipv4Addr::new(192, 88, 99, 0),     24, Kind::Reserved("a retired 6to4 relay anycast address")),
    (Ipv4Addr::new(192, 168, 0, 0),     16, Kind::Private),
    (Ipv4Addr::new(198, 18, 0, 0),      15, BENCHMARKING),
    (Ipv4Addr::new(198, 51, 100, 0),    24, DOCUMENTATION),   // TEST-NET-2
    (Ipv4Addr::new(203, 0, 113, 0),     24, DOCUMENTATION),   // TEST-NET-3
    (Ipv4Addr::new(224, 0, 0, 0),        4, Kind::Multicast),
    (Ipv4Addr::new(240, 0, 0, 0),        4, Kind::Reserved("an address reserved for future use")),
    (Ipv4Addr::new(255, 255, 255, 255), 32, Kind::Reserved("the broadcast address")),
];

/// IPv6 ranges the bridge never connects to, and the forms that embed IPv4.
/// The longest matching prefix wins, so e.g. `::1/128` beats `::/96`, and the
/// embedding rows beat the `::/3` catch-all. Only `2000::/3` is global unicast
/// today; the catch-alls deny everything else that no specific row names.
#[rustfmt::skip]
const V6_DENY: &[(Ipv6Addr, u8, Kind)] = &[
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),             128, Kind::Unspecified),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1),             128, Kind::Loopback),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),              96, Kind::Embeds(Embedding::Ipv4Compatible)),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0),         96, Kind::Embeds(Embedding::Ipv4Mapped)),
    (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0),      96, Kind::Embeds(Embedding::Nat64)),
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),      48, Kind::Embeds(Embedding::Nat64LocalUse)),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),          64, Kind::Reserved("a discard-only address")),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),               3, NOT_GLOBAL_V6),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),         23, PROTOCOL_ASSIGNMENT),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),         32, Kind::Embeds(Embedding::Teredo)),
    (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0),         48, BENCHMARKING),
    (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0),      28, Kind::Reserved("a retired ORCHID identifier")),
    (Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0),      28, Kind::Reserved("an ORCHIDv2 identifier, not a routable address")),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),     32, DOCUMENTATION),
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0),         16, Kind::Embeds(Embedding::SixToFour)),
    (Ipv6Addr::new(0x3ffe, 0, 0, 0, 0, 0, 0, 0),         16, Kind::Reserved("a retired 6bone address")),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),         20, DOCUMENTATION),   // RFC 9637
    (Ipv6Addr::new(0x4000, 0, 0, 0, 0, 0, 0, 0),          2, NOT_GLOBAL_V6),
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0),         16, Kind::Reserved("an SRv6 segment identifier, not a host address")),
    (Ipv6Addr::new(0x8000, 0, 0, 0, 0, 0, 0, 0),          1, NOT_GLOBAL_V6),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),          7, Kind::UniqueLocal),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),         10, Kind::LinkLocal),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),         10, Kind::Reserved("a deprecated site-local address")),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),          8, Kind::Multicast),
];

/// Whether `addr` lies in `net`/`len`; both are `width`-bit numbers held in a u128.
fn contains(net: u128, len: u8, addr: u128, width: u32) -> bool {
    // A zero-length prefix contains everything (and would overflow the shift).
    len == 0 || (net ^ addr) >> (width - u32::from(len)) == 0
}

/// The IPv4 row with the longest prefix containing `ip`, if any.
fn lookup_v4(ip: Ipv4Addr) -> Option<Kind> {
    let addr = u128::from(u32::from(ip));
    V4_DENY
        .iter()
        .filter(|&&(net, len, _)| contains(u128::from(u32::from(net)), len, addr, 32))
        .max_by_key(|&&(_, len, _)| len)
        .map(|&(_, _, kind)| kind)
}

/// The IPv6 row with the longest prefix containing `ip`, if any.
fn lookup_v6(ip: Ipv6Addr) -> Option<Kind> {
    let addr = u128::from(ip);
    V6_DENY
        .iter()
        .filter(|&&(net, len, _)| contains(u128::from(net), len, addr, 128))
        .max_by_key(|&&(_, len, _)| len)
        .map(|&(_, _, kind)| kind)
}

/// Whether the bridge may connect to `ip` (ignoring `--allow-target`).
pub fn check_address(ip: IpAddr) -> Result<(), Denied> {
    match ip {
        IpAddr::V4(v4) => check_v4(v4),
        IpAddr::V6(v6) => check_v6(v6),
    }
}

fn check_v4(ip: Ipv4Addr) -> Result<(), Denied> {
    match lookup_v4(ip) {
        None => Ok(()),
        Some(kind) => Err(kind.deny(IpAddr::V4(ip))),
    }
}

fn check_v6(ip: Ipv6Addr) -> Result<(), Denied> {
    match lookup_v6(ip) {
        None => Ok(()),
        Some(Kind::Embeds(form)) => {
            for inner in form.embedded(ip) {
                if let Err(why) = check_v4(inner) {
                    return Err(Denied::Embedded { addr: ip, form, inner: Box::new(why) });
                }
            }
            if form.allowed_when_public() {
                Ok(())
            } else {
                Err(Denied::Transition { addr: ip, form })
            }
        }
        Some(kind) => Err(kind.deny(IpAddr::V6(ip))),
    }
}

/// An address block, `ADDR/LEN` (or a lone address, its own block), as
/// `--trusted-proxy` and `--deny` take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub net: IpAddr,
    pub len: u8,
}

impl Cidr {
    /// Whether `ip` lies in the block; an IPv4-mapped IPv6 address is read
    /// as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                contains(u128::from(u32::from(net)), self.len, u128::from(u32::from(ip)), 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => contains(u128::from(net), self.len, u128::from(ip), 128),
            _ => false,
        }
    }

    /// 127.0.0.0/8 and ::1/128.
    pub fn loopback() -> Vec<Cidr> {
        vec![
            Cidr { net: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), len: 8 },
            Cidr { net: IpAddr::V6(Ipv6Addr::LOCALHOST), len: 128 },
        ]
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let (addr, len) = input.split_once('/').map_or((input, None), |(a, l)| (a, Some(l)));
        let net: IpAddr =
            addr.trim_start_matches('[').trim_end_matches(']').parse().map_err(|_| {
                format!("\"{input}\" is not an address block; write ADDRESS/LENGTH, such as 10.0.0.0/8")
            })?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|&l| l <= max)
                .ok_or_else(|| format!("\"{l}\" in \"{input}\" is not a prefix length from 0 to {max}"))?,
        };
        Ok(Cidr { net, len })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.len)
    }
}

/// One `--allow-target HOST:PORT` entry: a destination opened exactly, for
/// tests and the built-in lab, whatever its addresses and port.
///
/// Parses `host:port`, `a.b.c.d:port` and `[v6]:port`. The host is kept in
/// lower case; IPv6 addresses are kept without brackets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowTarget {
    pub host: String,
    pub port: u16,
    /// The addresses the host had when the bridge started
    /// ([`AllowTarget::pin`]); empty until then, which opens nothing.
    pub addrs: Vec<IpAddr>,
}

impl AllowTarget {
    /// An entry for `addr` itself, pinned to it.
    pub fn exact(addr: std::net::SocketAddr) -> AllowTarget {
        AllowTarget { host: addr.ip().to_string(), port: addr.port(), addrs: vec![addr.ip()] }
    }
}

/// Why a `--allow-target` value could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AllowTargetError {
    #[error("\"{input}\" has no port; write HOST:PORT, for example localhost:2525 or [::1]:2525")]
    MissingPort { input: String },
    #[error("\"{port}\" in \"{input}\" is not a port; a port is a number from 1 to 65535")]
    BadPort { input: String, port: String },
    #[error("\"{input}\" has no host; write HOST:PORT, for example localhost:2525")]
    EmptyHost { input: String },
    #[error("\"{host}\" in \"{input}\" is not a host name or IP address")]
    BadHost { input: String, host: String },
    #[error("\"{input}\" looks like an IPv6 address without brackets; write [ADDRESS]:PORT, for example [::1]:2525")]
    UnbracketedIpv6 { input: String },
    #[error(
        "\"{inside}\" in \"{input}\" is not an IPv6 address; brackets are only for IPv6 addresses, as in [::1]:2525"
    )]
    BadIpv6 { input: String, inside: String },
}

impl FromStr for AllowTarget {
    type Err = AllowTargetError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let owned = || input.to_string();
        let (host, port) = if let Some(rest) = input.strip_prefix('[') {
            let (inside, after) = rest
                .split_once(']')
                .ok_or_else(|| AllowTargetError::BadIpv6 { input: owned(), inside: rest.to_string() })?;
            if inside.parse::<Ipv6Addr>().is_err() {
                return Err(AllowTargetError::BadIpv6 { input: owned(), inside: inside.to_string() });
            }
            let port = after.strip_prefix(':').ok_or_else(|| AllowTargetError::MissingPort { input: owned() })?;
            (inside, port)
        } else {
            let (host, port) =
                input.rsplit_once(':').ok_or_else(|| AllowTargetError::MissingPort { input: owned() })?;
            if input.parse::<Ipv6Addr>().is_ok() || host.parse::<Ipv6Addr>().is_ok() {
                return Err(AllowTargetError::UnbracketedIpv6 { input: owned() });
            }
            if host.is_empty() {
                return Err(AllowTargetError::EmptyHost { input: owned() });
            }
            let name_like =
                host.len() <= 253 && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
            if !name_like {
                return Err(AllowTargetError::BadHost { input: owned(), host: host.to_string() });
            }
            (host, port)
        };
        let bad_port = || AllowTargetError::BadPort { input: owned(), port: port.to_string() };
        // `u16::from_str` accepts a leading '+'; a port is digits only.
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad_port());
        }
        let port = port.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad_port)?;
        Ok(AllowTarget { host: host.to_ascii_lowercase(), port, addrs: Vec::new() })
    }
}

impl fmt::Display for AllowTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl AllowTarget {
    /// Whether a request for `host`:`port` is exactly this target: same port,
    /// and the same host ignoring ASCII case (IP addresses compared as
    /// addresses, so `[::1]`, `::1` and `0:0::1` are one host).
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if port != self.port {
            return false;
        }
        let host = unbracket(host);
        match (host.parse::<IpAddr>(), self.host.parse::<IpAddr>()) {
            (Ok(a), Ok(b)) => a == b,
            _ => host.eq_ignore_ascii_case(&self.host),
        }
    }
}

fn unbracket(host: &str) -> &str {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

/// Why the bridge refuses a destination. [`PolicyError::code`] gives a stable
/// machine-readable code for each.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("port {port} is not a mail port the bridge connects to; it connects only to ports {}", list(.allowed))]
    PortNotAllowed { port: u16, allowed: Vec<u16> },
    /// The sentence names the kind of address, never the address: the
    /// log line has it (see [`PolicyError::log_detail`]).
    #[error("refusing {host}: it resolves to {}", why.kind_sentence())]
    AddressDenied { host: String, addr: IpAddr, why: Denied },
    #[error("{host} has no address to connect to")]
    NoAddress { host: String },
}

fn list(ports: &[u16]) -> String {
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    match ports.as_slice() {
        [] => "(none configured)".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

impl PolicyError {
    /// The stable code the page, API callers and metrics see.
    pub fn code(&self) -> ErrorCode {
        match self {
            PolicyError::PortNotAllowed { .. } => ErrorCode::PortNotAllowed,
            PolicyError::AddressDenied { .. } => ErrorCode::AddressDenied,
            PolicyError::NoAddress { .. } => ErrorCode::NoAddress,
        }
    }

    /// The whole story for the operator's log, address included.
    pub fn log_detail(&self) -> String {
        match self {
            PolicyError::AddressDenied { host, why, .. } => format!("refusing {host}: {why}"),
            other => other.to_string(),
        }
    }
}

/// The bridge's destination policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Ports the bridge connects to (default 25, 465, 587).
    pub allowed_ports: Vec<u16>,
    /// Exact destinations opened whatever their addresses and port, at the
    /// addresses they had at start-up.
    pub allow_targets: Vec<AllowTarget>,
    /// Blocks denied besides the built-in tables: `--deny`.
    pub deny: Vec<Cidr>,
    /// The networks of the bridge's own interfaces ([`own_networks`]).
    pub own_networks: Vec<Cidr>,
    /// NAT64 prefixes (/96) besides 64:ff9b::/96 whose embedded IPv4
    /// address is checked as if it were connected to: `--nat64-prefix`.
    pub nat64_prefixes: Vec<Cidr>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowed_ports: DEFAULT_PORTS.to_vec(),
            allow_targets: Vec::new(),
            deny: Vec::new(),
            own_networks: Vec::new(),
            nat64_prefixes: Vec::new(),
        }
    }
}

/// The IPv4 networks on-link to this machine's interfaces (routes without
/// a gateway) and the IPv6 networks of its addresses, read from Linux's
/// /proc; empty elsewhere. Loopback and link-local are denied anyway.
pub fn own_networks() -> Vec<Cidr> {
    let mut out = Vec::new();
    for line in std::fs::read_to_string("/proc/net/route").unwrap_or_default().lines().skip(1) {
        // Destination, gateway and mask as the kernel prints a __be32: its
        // bytes in memory order, read as a native integer.
        let field = |i: usize| line.split_whitespace().nth(i).and_then(|s| u32::from_str_radix(s, 16).ok());
        if let (Some(dest), Some(0), Some(mask)) = (field(1), field(2), field(7)) {
            if mask != 0 {
                out.push(Cidr { net: IpAddr::V4(Ipv4Addr::from(dest.to_ne_bytes())), len: mask.count_ones() as u8 });
            }
        }
    }
    for line in std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default().lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let (Some(addr), Some(len)) = (
            f.first().and_then(|a| u128::from_str_radix(a, 16).ok()),
            f.get(2).and_then(|l| u8::from_str_radix(l, 16).ok()),
        ) {
            if len > 0 && len <= 128 {
                out.push(Cidr { net: IpAddr::V6(Ipv6Addr::from(addr)), len });
            }
        }
    }
    out
}

impl Policy {
    /// Whether `port` is one of the allowed ports. (An exact allow-target
    /// bypasses this in [`Policy::check`].)
    pub fn check_port(&self, port: u16) -> Result<(), PolicyError> {
        if self.allowed_ports.contains(&port) {
            Ok(())
        } else {
            Err(PolicyError::PortNotAllowed { port, allowed: self.allowed_ports.clone() })
        }
    }

    /// Whether `host`:`port` is exactly one of the `--allow-target` entries.
    pub fn is_allow_target(&self, host: &str, port: u16) -> bool {
        self.allow_targets.iter().any(|t| t.matches(host, port))
    }

    /// Decides on `host`:`port`, which resolved to `addrs`, and returns the
    /// addresses the bridge may connect to: all of them, or an error.
    ///
    /// An exact allow-target is allowed whatever its port and addresses.
    /// Otherwise the port must be allowed and every address must pass
    /// [`check_address`]; the first denied address refuses the whole name.
    pub fn check(&self, host: &str, port: u16, addrs: &[IpAddr]) -> Result<Vec<IpAddr>, PolicyError> {
        let no_address = || PolicyError::NoAddress { host: host.to_string() };
        let denied = |addr: IpAddr, why: Denied| PolicyError::AddressDenied { host: host.to_string(), addr, why };
        if let Some(target) = self.allow_targets.iter().find(|t| t.matches(host, port)) {
            if addrs.is_empty() {
                return Err(no_address());
            }
            if let Some(&addr) = addrs.iter().find(|a| !target.addrs.contains(a)) {
                return Err(denied(addr, Denied::NotPinned(addr)));
            }
            return Ok(addrs.to_vec());
        }
        self.check_port(port)?;
        if addrs.is_empty() {
            return Err(no_address());
        }
        for &addr in addrs {
            self.check_one(addr).map_err(|why| denied(addr, why))?;
        }
        Ok(addrs.to_vec())
    }

    /// The built-in tables, then the configured NAT64 prefixes, the bridge's
    /// own networks and `--deny`, for the address and any IPv4 address a
    /// configured NAT64 prefix embeds.
    fn check_one(&self, addr: IpAddr) -> Result<(), Denied> {
        check_address(addr)?;
        let local = |ip: IpAddr| -> Result<(), Denied> {
            if self.deny.iter().any(|c| c.contains(ip)) {
                return Err(Denied::Configured(ip));
            }
            if self.own_networks.iter().any(|c| c.contains(ip)) {
                return Err(Denied::OwnNetwork(ip));
            }
            Ok(())
        };
        local(addr)?;
        if let IpAddr::V6(v6) = addr {
            if self.nat64_prefixes.iter().any(|c| c.contains(addr)) {
                let inner = IpAddr::V4(Ipv4Addr::from(u128::from(v6) as u32));
                check_address(inner).and_then(|()| local(inner)).map_err(|why| Denied::Embedded {
                    addr: v6,
                    form: Embedding::Nat64,
                    inner: Box::new(why),
                })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| panic!("bad test address {s}"))
    }

    /// A short label for a decision, so the table below stays readable.
    fn label(d: &Denied) -> String {
        match d {
            Denied::Unspecified(_) => "unspecified".into(),
            Denied::Loopback(_) => "loopback".into(),
            Denied::Private(_) => "private".into(),
            Denied::LinkLocal(_) => "link-local".into(),
            Denied::SharedCgnat(_) => "cgnat".into(),
            Denied::UniqueLocal(_) => "unique-local".into(),
            Denied::Multicast(_) => "multicast".into(),
            Denied::Reserved { what, .. } => format!("reserved: {what}"),
            Denied::Embedded { form, inner, .. } => format!("{form} of {}: {}", inner.addr(), label(inner)),
            Denied::Transition { form, .. } => format!("transition: {form}"),
            Denied::OwnNetwork(_) => "own network".into(),
            Denied::Configured(_) => "configured".into(),
            Denied::NotPinned(_) => "not pinned".into(),
        }
    }

    fn decide(s: &str) -> String {
        match check_address(ip(s)) {
            Ok(()) => "ok".into(),
            Err(d) => label(&d),
        }
    }

    const OK: &str = "ok";
    const DOC: &str = "reserved: a documentation address";
    const BENCH: &str = "reserved: a benchmarking address";
    const IETF: &str = "reserved: an IETF protocol-assignment address";
    const FUTURE: &str = "reserved: an address reserved for future use";
    const THIS_NET: &str = "reserved: a \"this network\" address";
    const NOT_GLOBAL: &str = "reserved: an address outside IPv6 global unicast (2000::/3)";

    #[test]
    fn ipv4_ranges_and_their_boundaries() {
        #[rustfmt::skip]
        let table: &[(&str, &str)] = &[
            // 0.0.0.0/8 "this network", 0.0.0.0 unspecified
            ("0.0.0.0", "unspecified"),
            ("0.0.0.1", THIS_NET),
            ("0.255.255.255", THIS_NET),
            ("1.0.0.0", OK),
            // 10/8
            ("9.255.255.255", OK),
            ("10.0.0.0", "private"),
            ("10.0.0.1", "private"),
            ("10.255.255.255", "private"),
            ("11.0.0.0", OK),
            // 100.64/10 shared (CGNAT)
            ("100.63.255.255", OK),
            ("100.64.0.0", "cgnat"),
            ("100.100.100.100", "cgnat"),
            ("100.127.255.255", "cgnat"),
            ("100.128.0.0", OK),
            // 127/8
            ("126.255.255.255", OK),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("128.0.0.0", OK),
            // 169.254/16
            ("169.253.255.255", OK),
            ("169.254.0.0", "link-local"),
            ("169.254.169.254", "link-local"),
            ("169.254.255.255", "link-local"),
            ("169.255.0.0", OK),
            // 172.16/12
            ("172.15.255.255", OK),
            ("172.16.0.0", "private"),
            ("172.31.255.255", "private"),
            ("172.32.0.0", OK),
            // 192.0.0/24 IETF protocol assignments, 192.0.2/24 TEST-NET-1
            ("191.255.255.255", OK),
            ("192.0.0.0", IETF),
            ("192.0.0.8", IETF),
            ("192.0.0.255", IETF),
            ("192.0.1.0", OK),
            ("192.0.2.0", DOC),
            ("192.0.2.1", DOC),
            ("192.0.2.255", DOC),
            ("192.0.3.0", OK),
            // 192.88.99/24 retired 6to4 relay anycast
            ("192.88.98.255", OK),
            ("192.88.99.1", "reserved: a retired 6to4 relay anycast address"),
            ("192.88.100.0", OK),
            // 192.168/16
            ("192.167.255.255", OK),
            ("192.168.0.0", "private"),
            ("192.168.1.1", "private"),
            ("192.168.255.255", "private"),
            ("192.169.0.0", OK),
            // 198.18/15 benchmarking, 198.51.100/24 TEST-NET-2
            ("198.17.255.255", OK),
            ("198.18.0.0", BENCH),
            ("198.19.255.255", BENCH),
            ("198.20.0.0", OK),
            ("198.51.99.255", OK),
            ("198.51.100.7", DOC),
            ("198.51.101.0", OK),
            // 203.0.113/24 TEST-NET-3
            ("203.0.112.255", OK),
            ("203.0.113.0", DOC),
            ("203.0.113.255", DOC),
            ("203.0.114.0", OK),
            // 224/4 multicast, 240/4 future use, broadcast
            ("223.255.255.255", OK),
            ("224.0.0.0", "multicast"),
            ("224.0.0.251", "multicast"),
            ("239.255.255.255", "multicast"),
            ("240.0.0.0", FUTURE),
            ("255.255.255.254", FUTURE),
            ("255.255.255.255", "reserved: the broadcast address"),
            // Public addresses (only parsed here, never contacted).
            ("8.8.8.8", OK),
            ("1.1.1.1", OK),
            ("93.184.215.14", OK),
            ("100.63.0.1", OK),
            ("172.217.0.1", OK),
            ("192.31.196.1", OK),
            ("223.5.5.5", OK),
        ];
        let failures: Vec<String> = table
            .iter()
            .filter_map(|&(addr, want)| {
                let got = decide(addr);
                (got != want).then(|| format!("{addr}: want {want:?}, got {got:?}"))
            })
            .collect();
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn ipv6_ranges_and_their_boundaries() {
        #[rustfmt::skip]
        let table: &[(&str, &str)] = &[
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::2", "IPv4-compatible of 0.0.0.2: reserved: a \"this network\" address"),
            // 100::/64 discard-only
            ("100::", "reserved: a discard-only address"),
            ("100::ffff:ffff:ffff:ffff", "reserved: a discard-only address"),
            ("100:0:0:1::", NOT_GLOBAL),
            // Everything below 2000::/3 that no row names
            ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NOT_GLOBAL),
            ("::ffff:0:0:0", NOT_GLOBAL), // IPv4-translated (SIIT)
            ("64:ff9b:0:0:0:1::", NOT_GLOBAL),
            ("2000::", OK),
            // 2001::/23 IETF protocol assignments, with Teredo, benchmarking, ORCHID inside
            ("2001:1::1", IETF),
            ("2001:1ff:ffff::", IETF),
            ("2001:200::1", OK),
            ("2001:2::1", BENCH),
            ("2001:2:0:1::", BENCH),
            ("2001:2:1::", IETF),
            ("2001:f:ffff::", IETF),
            ("2001:10::1", "reserved: a retired ORCHID identifier"),
            ("2001:1f:ffff::", "reserved: a retired ORCHID identifier"),
            ("2001:20::1", "reserved: an ORCHIDv2 identifier, not a routable address"),
            ("2001:2f:ffff::", "reserved: an ORCHIDv2 identifier, not a routable address"),
            ("2001:30::", IETF),
            // 2001:db8::/32 documentation
            ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", OK),
            ("2001:db8::", DOC),
            ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", DOC),
            ("2001:db9::", OK),
            // 3ffe::/16 6bone, 3fff::/20 documentation
            ("3ffd:ffff:ffff:ffff:ffff:ffff:ffff:ffff", OK),
            ("3ffe::1", "reserved: a retired 6bone address"),
            ("3ffe:ffff::", "reserved: a retired 6bone address"),
            ("3fff::1", DOC),
            ("3fff:fff:ffff::", DOC),
            ("3fff:1000::", OK),
            ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", OK),
            // 4000::/2 and 8000::/1 outside global unicast, 5f00::/16 SRv6
            ("4000::", NOT_GLOBAL),
            ("5eff:ffff::", NOT_GLOBAL),
            ("5f00::1", "reserved: an SRv6 segment identifier, not a host address"),
            ("5f01::", NOT_GLOBAL),
            ("8000::", NOT_GLOBAL),
            ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NOT_GLOBAL),
            // fc00::/7 unique local
            ("fc00::", "unique-local"),
            ("fd12:3456:789a::1", "unique-local"),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "unique-local"),
            ("fe00::", NOT_GLOBAL),
            ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NOT_GLOBAL),
            // fe80::/10 link-local, fec0::/10 site-local
            ("fe80::", "link-local"),
            ("fe80::1", "link-local"),
            ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link-local"),
            ("fec0::", "reserved: a deprecated site-local address"),
            ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "reserved: a deprecated site-local address"),
            // ff00::/8 multicast
            ("fefe::", "reserved: a deprecated site-local address"),
            ("ff00::", "multicast"),
            ("ff02::1", "multicast"),
            ("ff05::1:3", "multicast"),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast"),
            // Public addresses (only parsed here, never contacted).
            ("2606:4700::1111", OK),
            ("2606:4700:4700::1111", OK),
            ("2001:4860:4860::8888", OK),
            ("2a00:1450:4001::1", OK),
            ("3ffd::1", OK),
        ];
        let failures: Vec<String> = table
            .iter()
            .filter_map(|&(addr, want)| {
                let got = decide(addr);
                (got != want).then(|| format!("{addr}: want {want:?}, got {got:?}"))
            })
            .collect();
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn embedded_ipv4_forms() {
        #[rustfmt::skip]
        let table: &[(&str, &str)] = &[
            // IPv4-mapped: allowed when the inner address is.
            ("::ffff:10.0.0.1", "IPv4-mapped of 10.0.0.1: private"),
            ("::ffff:127.0.0.1", "IPv4-mapped of 127.0.0.1: loopback"),
            ("::ffff:0.0.0.0", "IPv4-mapped of 0.0.0.0: unspecified"),
            ("::ffff:169.254.169.254", "IPv4-mapped of 169.254.169.254: link-local"),
            ("::ffff:100.64.0.1", "IPv4-mapped of 100.64.0.1: cgnat"),
            ("::ffff:192.0.2.1", "IPv4-mapped of 192.0.2.1: reserved: a documentation address"),
            ("::ffff:8.8.8.8", OK),
            ("::ffff:172.15.255.255", OK),
            // IPv4-compatible (deprecated): never allowed.
            ("::10.0.0.1", "IPv4-compatible of 10.0.0.1: private"),
            ("::127.0.0.1", "IPv4-compatible of 127.0.0.1: loopback"),
            ("::8.8.8.8", "transition: IPv4-compatible"),
            // NAT64 well-known prefix: allowed when the inner address is.
            ("64:ff9b::10.0.0.1", "NAT64 of 10.0.0.1: private"),
            ("64:ff9b::127.0.0.1", "NAT64 of 127.0.0.1: loopback"),
            ("64:ff9b::192.168.1.1", "NAT64 of 192.168.1.1: private"),
            ("64:ff9b::8.8.8.8", OK),
            ("64:ff9b::c000:0201", "NAT64 of 192.0.2.1: reserved: a documentation address"),
            // NAT64 local-use: never allowed; a denied last-32-bits address is named.
            ("64:ff9b:1::10.0.0.1", "local-use NAT64 of 10.0.0.1: private"),
            ("64:ff9b:1::8.8.8.8", "transition: local-use NAT64"),
            ("64:ff9b:1:ffff:ffff:ffff:808:808", "transition: local-use NAT64"),
            ("64:ff9b:2::8.8.8.8", NOT_GLOBAL),
            // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD; never allowed.
            ("2002:a00:1::1", "6to4 of 10.0.0.1: private"),
            ("2002:7f00:1::", "6to4 of 127.0.0.1: loopback"),
            ("2002:c0a8:101:1::1", "6to4 of 192.168.1.1: private"),
            ("2002:a9fe:a9fe::", "6to4 of 169.254.169.254: link-local"),
            ("2002:808:808::1", "transition: 6to4"),
            ("2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", OK),
            ("2003::1", OK),
            // Teredo: server in bits 32..64, client inverted in the last 32 bits.
            // Client 10.0.0.1 = !0xf5fffffe, server 65.54.227.120 (public).
            ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo of 10.0.0.1: private"),
            // Client 192.168.1.1 = !0x3f57fefe.
            ("2001:0:4136:e378:8000:63bf:3f57:fefe", "Teredo of 192.168.1.1: private"),
            // Server private (10.0.0.1), client public (8.8.8.8 inverted is f7f7:f7f7).
            ("2001:0:a00:1:8000:63bf:f7f7:f7f7", "Teredo of 10.0.0.1: private"),
            ("2001:0:7f00:1::f7f7:f7f7", "Teredo of 127.0.0.1: loopback"),
            // Both public: still refused as a tunnel.
            ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "transition: Teredo"),
            ("2001:1::", IETF),
        ];
        let failures: Vec<String> = table
            .iter()
            .filter_map(|&(addr, want)| {
                let got = decide(addr);
                (got != want).then(|| format!("{addr}: want {want:?}, got {got:?}"))
            })
            .collect();
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn sentences_for_administrators() {
        let say = |s: &str| check_address(ip(s)).unwrap_err().to_string();
        assert_eq!(say("127.0.0.1"), "127.0.0.1 is a loopback address; the bridge never connects to its own machine");
        assert_eq!(say("10.1.2.3"), "10.1.2.3 is a private address; the bridge never connects into private networks");
        assert_eq!(
            say("::ffff:10.0.0.1"),
            "::ffff:10.0.0.1 is an IPv4-mapped form of 10.0.0.1, a private address; \
             the bridge never connects into private networks"
        );
        assert_eq!(
            say("0.0.0.0"),
            "0.0.0.0 is the unspecified address, which means this machine; the bridge never connects to its own machine"
        );
        assert_eq!(
            say("100.64.0.1"),
            "100.64.0.1 is a shared carrier-grade NAT address; the bridge never connects into a provider's internal network"
        );
        assert_eq!(
            say("192.0.2.1"),
            "192.0.2.1 is a documentation address; the bridge never connects to reserved addresses"
        );
        assert_eq!(
            say("2001:0:4136:e378:8000:63bf:f5ff:fffe"),
            "2001:0:4136:e378:8000:63bf:f5ff:fffe is a Teredo form of 10.0.0.1, a private address; \
             the bridge never connects into private networks"
        );
        assert_eq!(
            say("2002:808:808::1"),
            "2002:808:808::1 is a 6to4 tunnel address; the bridge never connects through IPv6 transition mechanisms"
        );
        assert_eq!(
            say("fe80::1"),
            "fe80::1 is a link-local address; the bridge never connects to its own network segment"
        );
        assert_eq!(say("ff02::1"), "ff02::1 is a multicast address; the bridge never connects to multicast groups");
        // Every sentence names the address it is about, and is one sentence.
        for s in ["0.1.2.3", "255.255.255.255", "::", "::2", "64:ff9b:1::8.8.8.8", "fd00::1", "5f00::1", "fec0::1"] {
            let sentence = say(s);
            assert!(sentence.starts_with(&ip(s).to_string()), "{sentence}");
            assert!(sentence.contains("the bridge never connects"), "{sentence}");
            assert!(!sentence.ends_with('.') && !sentence.contains(". "), "{sentence}");
        }
    }

    #[test]
    fn tables_are_well_formed() {
        for &(net, len, _) in V4_DENY {
            assert!(len <= 32, "{net}/{len}");
            let host_bits = if len == 0 { u32::MAX } else { u32::MAX.checked_shr(u32::from(len)).unwrap_or(0) };
            assert_eq!(u32::from(net) & host_bits, 0, "{net}/{len} has host bits set");
        }
        for &(net, len, _) in V6_DENY {
            assert!(len <= 128, "{net}/{len}");
            let host_bits = if len == 0 { u128::MAX } else { u128::MAX.checked_shr(u32::from(len)).unwrap_or(0) };
            assert_eq!(u128::from(net) & host_bits, 0, "{net}/{len} has host bits set");
        }
        // No two rows are the same prefix, so the longest match is never a tie.
        for (i, a) in V4_DENY.iter().enumerate() {
            assert!(V4_DENY[i + 1..].iter().all(|b| (a.0, a.1) != (b.0, b.1)), "{}/{} twice", a.0, a.1);
        }
        for (i, a) in V6_DENY.iter().enumerate() {
            assert!(V6_DENY[i + 1..].iter().all(|b| (a.0, a.1) != (b.0, b.1)), "{}/{} twice", a.0, a.1);
        }
    }

    /// std's stable helpers are a second opinion: whatever they call special,
    /// the policy denies. Walks every /16 with a few host parts.
    #[test]
    fn agrees_with_std_on_ipv4() {
        for high in 0..=u16::MAX {
            for low in [0u16, 1, 0x00ff, 0x0100, 0x7fff, 0xfffe, 0xffff] {
                let v4 = Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
                let special = v4.is_unspecified()
                    || v4.is_loopback()
                    || v4.is_private()
                    || v4.is_link_local()
                    || v4.is_multicast()
                    || v4.is_broadcast()
                    || v4.is_documentation();
                if special {
                    assert!(check_address(IpAddr::V4(v4)).is_err(), "{v4} allowed");
                    let mapped = IpAddr::V6(v4.to_ipv6_mapped());
                    assert!(check_address(mapped).is_err(), "{mapped} allowed");
                }
                if check_address(IpAddr::V4(v4)).is_ok() {
                    // A public address stays public in its mapped and NAT64 forms.
                    assert_eq!(check_address(IpAddr::V6(v4.to_ipv6_mapped())), Ok(()), "::ffff:{v4}");
                    let nat64 = Ipv6Addr::from(
                        u128::from(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0)) | u128::from(u32::from(v4)),
                    );
                    assert_eq!(check_address(IpAddr::V6(nat64)), Ok(()), "{nat64}");
                } else {
                    // A denied address is denied in every embedding, naming it.
                    let bits = u128::from(u32::from(v4));
                    let sixtofour = Ipv6Addr::from((0x2002u128 << 112) | (bits << 80));
                    let teredo_client =
                        Ipv6Addr::from((0x2001u128 << 112) | (0x4136_e378u128 << 64) | u128::from(!u32::from(v4)));
                    for v6 in [v4.to_ipv6_mapped(), sixtofour, teredo_client] {
                        match check_address(IpAddr::V6(v6)) {
                            Err(Denied::Embedded { inner, .. }) => assert_eq!(inner.addr(), IpAddr::V4(v4), "{v6}"),
                            other => panic!("{v6}: {other:?}"),
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn agrees_with_std_on_ipv6() {
        for s in ["::", "::1", "fe80::1", "febf::1", "fc00::1", "fdff::1", "ff00::", "ff0e::1", "ff02::2"] {
            let v6: Ipv6Addr = s.parse().unwrap();
            assert!(
                v6.is_unspecified()
                    || v6.is_loopback()
                    || v6.is_multicast()
                    || v6.is_unique_local()
                    || v6.is_unicast_link_local(),
                "{s} should be special to std"
            );
            assert!(check_address(IpAddr::V6(v6)).is_err(), "{s} allowed");
        }
    }

    #[test]
    fn allow_target_parsing() {
        let ok = |s: &str, host: &str, port: u16| {
            assert_eq!(s.parse::<AllowTarget>(), Ok(AllowTarget { host: host.into(), port, addrs: vec![] }), "{s}");
        };
        ok("localhost:2525", "localhost", 2525);
        ok("LocalHost:25", "localhost", 25);
        ok("127.0.0.1:2525", "127.0.0.1", 2525);
        ok("[::1]:2525", "::1", 2525);
        ok("[::ffff:127.0.0.1]:25", "::ffff:127.0.0.1", 25);
        ok("mail-lab.example.org:587", "mail-lab.example.org", 587);
        ok("lab_host:65535", "lab_host", 65535);
        ok("x:1", "x", 1);

        let err = |s: &str| s.parse::<AllowTarget>().unwrap_err();
        assert!(matches!(err("localhost"), AllowTargetError::MissingPort { .. }));
        assert!(matches!(err("[::1]"), AllowTargetError::MissingPort { .. }));
        assert!(matches!(err("[::1]2525"), AllowTargetError::MissingPort { .. }));
        assert!(matches!(err(":25"), AllowTargetError::EmptyHost { .. }));
        assert!(matches!(err("localhost:"), AllowTargetError::BadPort { .. }));
        assert!(matches!(err("localhost:0"), AllowTargetError::BadPort { .. }));
        assert!(matches!(err("localhost:65536"), AllowTargetError::BadPort { .. }));
        assert!(matches!(err("localhost:+25"), AllowTargetError::BadPort { .. }));
        assert!(matches!(err("localhost:smtp"), AllowTargetError::BadPort { .. }));
        assert!(matches!(err("localhost: 25"), AllowTargetError::BadPort { .. }));
        assert!(matches!(err("::1:2525"), AllowTargetError::UnbracketedIpv6 { .. }));
        assert!(matches!(err("[::1:2525"), AllowTargetError::BadIpv6 { .. }));
        assert!(matches!(err("[127.0.0.1]:25"), AllowTargetError::BadIpv6 { .. }));
        assert!(matches!(err("[mail.example]:25"), AllowTargetError::BadIpv6 { .. }));
        assert!(matches!(err("mail example:25"), AllowTargetError::BadHost { .. }));
        assert!(matches!(err("http://x:25"), AllowTargetError::BadHost { .. }));
        assert!(matches!(err("fe80::1%eth0:25"), AllowTargetError::BadHost { .. }));
        assert!(matches!(err("x/y:25"), AllowTargetError::BadHost { .. }));
        assert!(matches!(err(""), AllowTargetError::MissingPort { .. }));

        assert_eq!(
            err("localhost").to_string(),
            "\"localhost\" has no port; write HOST:PORT, for example localhost:2525 or [::1]:2525"
        );
        assert_eq!(
            err("localhost:99999").to_string(),
            "\"99999\" in \"localhost:99999\" is not a port; a port is a number from 1 to 65535"
        );
        assert_eq!(
            err("::1:25").to_string(),
            "\"::1:25\" looks like an IPv6 address without brackets; write [ADDRESS]:PORT, for example [::1]:2525"
        );

        // Display gives back a string that parses to the same target.
        for s in ["localhost:2525", "[::1]:2525", "127.0.0.1:25"] {
            let t: AllowTarget = s.parse().unwrap();
            assert_eq!(t.to_string(), s);
            assert_eq!(t.to_string().parse::<AllowTarget>(), Ok(t));
        }
    }

    #[test]
    fn address_blocks() {
        let block: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(block.contains(ip("10.9.8.7")) && block.contains(ip("::ffff:10.0.0.1")));
        assert!(!block.contains(ip("11.0.0.1")) && !block.contains(ip("::1")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::1")) && !v6.contains(ip("2001:db9::1")));
        assert_eq!("192.0.2.1".parse::<Cidr>().unwrap(), Cidr { net: ip("192.0.2.1"), len: 32 });
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "::/129", "nonsense/8", "10.0.0.0/x", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert!(Cidr::loopback().iter().any(|c| c.contains(ip("127.0.0.2"))));
    }

    #[test]
    fn allow_target_matching() {
        let t: AllowTarget = "Lab.Example:2525".parse().unwrap();
        assert!(t.matches("lab.example", 2525));
        assert!(t.matches("LAB.EXAMPLE", 2525));
        assert!(!t.matches("lab.example", 25));
        assert!(!t.matches("lab.example.", 2525));
        assert!(!t.matches("other.lab.example", 2525));
        let v6: AllowTarget = "[::1]:2525".parse().unwrap();
        assert!(v6.matches("::1", 2525));
        assert!(v6.matches("[::1]", 2525));
        assert!(v6.matches("0:0::1", 2525));
        assert!(!v6.matches("127.0.0.1", 2525));
        assert!(!v6.matches("::ffff:127.0.0.1", 2525));
    }

    #[test]
    fn port_policy() {
        let policy = Policy::default();
        assert_eq!(policy.allowed_ports, vec![25, 465, 587]);
        for port in [25, 465, 587] {
            assert_eq!(policy.check_port(port), Ok(()));
        }
        for port in [0, 22, 24, 26, 80, 443, 2525, 8080, 65535] {
            let err = policy.check_port(port).unwrap_err();
            assert_eq!(err, PolicyError::PortNotAllowed { port, allowed: vec![25, 465, 587] });
            assert_eq!(err.code(), ErrorCode::PortNotAllowed);
        }
        assert_eq!(
            policy.check_port(22).unwrap_err().to_string(),
            "port 22 is not a mail port the bridge connects to; it connects only to ports 25, 465 and 587"
        );
        // A configured allowlist replaces the default.
        let custom = Policy { allowed_ports: vec![2525], ..Policy::default() };
        assert_eq!(custom.check_port(2525), Ok(()));
        assert!(custom.check_port(25).is_err());
        // A public address on a forbidden port is refused for the port.
        let err = policy.check("mx.example", 80, &[ip("8.8.8.8")]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::PortNotAllowed);
    }

    #[test]
    fn every_resolved_address_must_pass() {
        let policy = Policy::default();
        let public = [ip("8.8.8.8"), ip("2606:4700::1111")];
        assert_eq!(policy.check("mx.example", 25, &public), Ok(public.to_vec()));

        // A name that resolves to public and private addresses is refused
        // whole, naming the bad address, in whatever order they come.
        for addrs in [
            vec![ip("8.8.8.8"), ip("10.0.0.1")],
            vec![ip("10.0.0.1"), ip("8.8.8.8")],
            vec![ip("8.8.8.8"), ip("2606:4700::1111"), ip("10.0.0.1")],
        ] {
            let err = policy.check("rebind.example", 25, &addrs).unwrap_err();
            assert_eq!(
                err,
                PolicyError::AddressDenied {
                    host: "rebind.example".into(),
                    addr: ip("10.0.0.1"),
                    why: Denied::Private(ip("10.0.0.1")),
                }
            );
            assert_eq!(err.code(), ErrorCode::AddressDenied);
            assert_eq!(
                err.to_string(),
                "refusing rebind.example: it resolves to a private address; the bridge never connects into private networks",
                "the page hears the kind of address, never the address"
            );
            assert!(err.log_detail().contains("10.0.0.1"), "the operator's log has it");
        }
        let err = policy.check("mx.example", 587, &[ip("2606:4700::1111"), ip("::ffff:127.0.0.1")]).unwrap_err();
        assert!(matches!(err, PolicyError::AddressDenied { addr, .. } if addr == ip("::ffff:127.0.0.1")));
        assert!(err.to_string().contains("an IPv4-mapped form of a loopback address"), "{err}");
        assert!(!err.to_string().contains("127.0.0.1"), "{err}");

        // An IP literal is checked like any name.
        assert_eq!(policy.check("127.0.0.1", 25, &[ip("127.0.0.1")]).unwrap_err().code(), ErrorCode::AddressDenied);

        let err = policy.check("nothing.example", 25, &[]).unwrap_err();
        assert_eq!(err, PolicyError::NoAddress { host: "nothing.example".into() });
        assert_eq!(err.code(), ErrorCode::NoAddress);
        assert_eq!(err.to_string(), "nothing.example has no address to connect to");
    }

    #[test]
    fn allow_targets_open_exactly_their_host_and_port() {
        let loopback = [ip("127.0.0.1"), ip("::1")];
        let pinned = |s: &str| AllowTarget { addrs: loopback.to_vec(), ..s.parse().unwrap() };
        let policy = Policy { allow_targets: vec![pinned("localhost:2525"), pinned("[::1]:25")], ..Policy::default() };
        // Exact match: any address (of those pinned at start-up), any port.
        assert_eq!(policy.check("localhost", 2525, &loopback), Ok(loopback.to_vec()));
        assert_eq!(policy.check("LOCALHOST", 2525, &loopback), Ok(loopback.to_vec()));
        assert_eq!(policy.check("::1", 25, &[ip("::1")]), Ok(vec![ip("::1")]));
        assert_eq!(policy.check("[::1]", 25, &[ip("::1")]), Ok(vec![ip("::1")]));
        // Same host, other port: the ordinary rules apply.
        assert_eq!(policy.check("localhost", 25, &loopback).unwrap_err().code(), ErrorCode::AddressDenied);
        assert_eq!(policy.check("localhost", 2526, &loopback).unwrap_err().code(), ErrorCode::PortNotAllowed);
        // Same port, other host, even one resolving to the same addresses.
        assert_eq!(policy.check("evil.example", 2525, &loopback).unwrap_err().code(), ErrorCode::PortNotAllowed);
        assert_eq!(policy.check("127.0.0.1", 25, &[ip("127.0.0.1")]).unwrap_err().code(), ErrorCode::AddressDenied);
        // An allowed target that resolves to nothing is still refused.
        assert_eq!(policy.check("localhost", 2525, &[]).unwrap_err().code(), ErrorCode::NoAddress);
        assert!(policy.is_allow_target("localhost", 2525));
        assert!(!policy.is_allow_target("localhost", 25));
        // Item 10: a name is opened at the addresses it had at start-up, not
        // at whatever it resolves to later.
        let err = policy.check("localhost", 2525, &[ip("10.0.0.5")]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::AddressDenied);
        assert!(err.to_string().contains("at start-up"), "{err}");
        assert!(!err.to_string().contains("10.0.0.5"), "{err}");
    }

    #[test]
    fn operator_denials_own_networks_and_nat64_prefixes() {
        let policy = Policy {
            deny: vec!["8.8.8.0/24".parse().unwrap()],
            own_networks: vec!["93.184.215.0/24".parse().unwrap(), "2606:2800:220:1::/64".parse().unwrap()],
            nat64_prefixes: vec!["2001:67c:2960:6464::/96".parse().unwrap()],
            ..Policy::default()
        };
        let kind = |s: &str| policy.check("mx.example", 25, &[ip(s)]).map_err(|e| e.to_string());
        assert!(kind("8.8.8.8").unwrap_err().contains("operator denies"));
        assert!(kind("8.8.4.4").is_ok());
        assert!(kind("93.184.215.14").unwrap_err().contains("own network"));
        assert!(kind("2606:2800:220:1::25").unwrap_err().contains("own network"));
        assert!(kind("2606:2800:220:2::25").is_ok());
        // The embedded IPv4 address of a configured NAT64 prefix is checked.
        assert!(kind("2001:67c:2960:6464::a00:1").unwrap_err().contains("NAT64 form of a private address"));
        assert!(kind("2001:67c:2960:6464::808:808").unwrap_err().contains("operator denies"));
        assert!(kind("2001:67c:2960:6464::808:404").is_ok());
        assert!(kind("2001:67c:2960:6465::a00:1").is_ok(), "outside the prefix it is an ordinary address");
    }

    #[test]
    fn own_networks_are_read_where_linux_says() {
        // Whatever this machine has, loopback and link-local stay out of
        // the list's way (they are denied anyway) and nothing panics.
        for c in own_networks() {
            assert!(c.len <= 128, "{c}");
        }
    }
}
