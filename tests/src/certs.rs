//! Certificates made by the tests (rcgen): a private CA and leaves it signs
//! for the right name, for another name, expired; and self-signed ones.
//!
//! The CA is nobody Mozilla trusts, so relaycheck must call every one of
//! these untrusted and say why: unknown issuer, self-signed, expired, wrong
//! name. Nothing here is ever written outside the temp dir.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// The test CA's common name, as it appears in an issuer's DN.
pub const CA_NAME: &str = "Relaycheck Test CA";

/// A certificate and its key, as a server needs them.
pub struct Cert {
    /// The certificate, then the CA's when it has one (the chain a server sends).
    pub chain_pem: String,
    pub key_pem: String,
    /// The same chain in DER, the server's own first.
    pub chain_der: Vec<Vec<u8>>,
    /// The private key, PKCS#8 DER.
    pub key_der: Vec<u8>,
}

impl Cert {
    /// Writes `NAME.pem` (the chain) and `NAME.key` into `dir`; returns both
    /// paths. The key is readable by its owner only, as Postfix wants it.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        fs::write(&cert, &self.chain_pem).expect("write certificate");
        fs::write(&key, &self.key_pem).expect("write key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod key");
        }
        (cert, key)
    }
}

/// How long a leaf is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// 2026-01-01 to 2036-01-01.
    Current,
    /// 2020-01-01 to 2021-01-01: expired long ago.
    Expired,
}

impl Validity {
    /// `not_before` and `not_after` as `YYYY-MM-DD`.
    pub fn dates(self) -> (&'static str, &'static str) {
        match self {
            Validity::Current => ("2026-01-01", "2036-01-01"),
            Validity::Expired => ("2020-01-01", "2021-01-01"),
        }
    }

    fn apply(self, params: &mut CertificateParams) {
        let (from, to) = match self {
            Validity::Current => ((2026, 1, 1), (2036, 1, 1)),
            Validity::Expired => ((2020, 1, 1), (2021, 1, 1)),
        };
        params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
    }
}

/// A private certificate authority.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, CA_NAME);
        params.distinguished_name.push(DnType::OrganizationName, "relaycheck tests");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        // Valid around every leaf it signs, expired ones included.
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2040, 1, 1);
        let key = KeyPair::generate().expect("CA key");
        TestCa { issuer: CertifiedIssuer::self_signed(params, key).expect("self-sign the CA") }
    }

    /// The CA's certificate (PEM).
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `names` (DNS names or IP addresses), signed
    /// by this CA; the chain holds the CA's certificate after it.
    pub fn leaf(&self, names: &[&str], validity: Validity) -> Cert {
        let (params, key) = leaf_params(names, validity);
        let cert = params.signed_by(&key, &self.issuer).expect("sign the leaf");
        Cert {
            chain_pem: format!("{}{}", cert.pem(), self.issuer.pem()),
            key_pem: key.serialize_pem(),
            chain_der: vec![cert.der().to_vec(), self.issuer.der().to_vec()],
            key_der: key.serialize_der(),
        }
    }
}

/// A certificate for `names` that signs itself.
pub fn self_signed(names: &[&str], validity: Validity) -> Cert {
    let (params, key) = leaf_params(names, validity);
    let cert = params.self_signed(&key).expect("self-sign");
    Cert {
        chain_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        chain_der: vec![cert.der().to_vec()],
        key_der: key.serialize_der(),
    }
}

fn leaf_params(names: &[&str], validity: Validity) -> (CertificateParams, KeyPair) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, names.first().cloned().unwrap_or_default());
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity.apply(&mut params);
    (params, KeyPair::generate().expect("leaf key"))
}
