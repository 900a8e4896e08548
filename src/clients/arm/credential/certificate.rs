//! The client certificate of `AZURE_CLIENT_CERTIFICATE_PATH`, as the other Azure SDKs take it: a PEM file
//! with the certificate and its private key (the key may be encrypted with
//! `AZURE_CLIENT_CERTIFICATE_PASSWORD`), or a PFX/PKCS#12 file (opened with that password, or none).
//! azure_identity takes PKCS#12 bytes, so a PEM file is turned into PKCS#12 in memory, never on disk.
//!
//! Errors name the variable and the file and say what is wrong with it, never what is in it: no key
//! material, no password.

use std::path::Path;

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{Id, PKey, Private};
use openssl::stack::Stack;
use openssl::x509::X509;

use super::super::AzureError;
use crate::secret::Secret;

/// A certificate ready for azure_identity, and how to name it.
pub(super) struct Certificate {
    /// PKCS#12 (DER) holding the key, the certificate and any chain.
    pub pkcs12: Vec<u8>,
    /// What opens `pkcs12`: the user's password for a PFX file, none for one built from PEM.
    pub password: Option<Secret>,
    /// The SHA-1 thumbprint in hex, as the Azure portal lists an application's certificates.
    pub thumbprint: String,
    /// The subject's common name, when it has one.
    pub subject: Option<String>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate").field("thumbprint", &self.thumbprint).finish_non_exhaustive()
    }
}

const HINT: &str = "AZURE_CLIENT_CERTIFICATE_PATH must name a PEM file holding the certificate and its \
                    RSA private key, or a PFX/PKCS#12 file; set AZURE_CLIENT_CERTIFICATE_PASSWORD when the \
                    key or the PFX file is protected by a password";

/// Reads and checks the certificate file.
pub(super) fn read(path: &Path, password: Option<&Secret>) -> Result<Certificate, AzureError> {
    let shown = crate::text::inert(&path.display().to_string(), false).into_owned();
    let fail = |problem: String| AzureError::Configuration {
        message: format!("cannot use the client certificate {shown} (AZURE_CLIENT_CERTIFICATE_PATH): {problem}"),
        hint: HINT.into(),
    };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let is_pem = bytes.windows(11).any(|w| w == b"-----BEGIN ");
    let (key, leaf, pkcs12, password) = if is_pem {
        let (key, leaf, chain) = from_pem(&bytes, password).map_err(fail)?;
        let mut builder = Pkcs12::builder();
        builder.name("migprep").pkey(&key).cert(&leaf);
        if let Some(chain) = &chain {
            builder.ca(clone_stack(chain).map_err(|e| fail(format!("cannot copy its chain: {e}")))?);
        }
        let pkcs12 = builder.build2("").map_err(|e| fail(format!("cannot convert it to PKCS#12: {e}")))?;
        let der = pkcs12.to_der().map_err(|e| fail(format!("cannot convert it to PKCS#12: {e}")))?;
        (key, leaf, der, None)
    } else {
        let parsed = Pkcs12::from_der(&bytes)
            .map_err(|_| fail("it is neither PEM nor PFX/PKCS#12".into()))?
            .parse2(password.map_or("", Secret::expose))
            .map_err(|_| {
                fail(match password {
                    Some(_) => "the password (AZURE_CLIENT_CERTIFICATE_PASSWORD) does not open this PFX file, \
                                or it uses an algorithm OpenSSL 3 no longer supports"
                        .into(),
                    None => "this PFX file needs a password (AZURE_CLIENT_CERTIFICATE_PASSWORD is not set)".into(),
                })
            })?;
        let key = parsed.pkey.ok_or_else(|| fail("the PFX file holds no private key".into()))?;
        let leaf = parsed.cert.ok_or_else(|| fail("the PFX file holds no certificate".into()))?;
        (key, leaf, bytes, password.cloned())
    };
    if key.id() != Id::RSA {
        return Err(fail("its private key is not an RSA key, which Microsoft Entra ID requires here".into()));
    }
    if !leaf.public_key().is_ok_and(|public| public.public_eq(&key)) {
        return Err(fail("the private key does not belong to the certificate".into()));
    }
    let digest = leaf.digest(MessageDigest::sha1()).map_err(|e| fail(format!("cannot compute its thumbprint: {e}")))?;
    let thumbprint = hex::encode_upper(digest);
    let subject = leaf
        .subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .next()
        .and_then(|entry| entry.data().to_string().ok())
        .map(|name| crate::text::inert(&name, false).into_owned());
    Ok(Certificate { pkcs12, password, thumbprint, subject })
}

/// The private key, the certificate that goes with it and the rest of the PEM's certificates.
type KeyAndCertificates = (PKey<Private>, X509, Option<Stack<X509>>);

/// Reads a PEM file's key and certificates.
fn from_pem(pem: &[u8], password: Option<&Secret>) -> Result<KeyAndCertificates, String> {
    let certificates = X509::stack_from_pem(pem).map_err(|_| "its certificates cannot be parsed".to_string())?;
    if certificates.is_empty() {
        return Err("it holds no certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    if !pem.windows(11).any(|w| w == b"PRIVATE KEY") {
        return Err("it holds no private key (-----BEGIN PRIVATE KEY-----): the key must be in the same file".into());
    }
    // Through a callback, also without a password: OpenSSL would otherwise prompt on the terminal for an
    // encrypted key.
    let secret = password.map_or(&[][..], |p| p.expose().as_bytes());
    let key = PKey::private_key_from_pem_callback(pem, |buffer| {
        let length = secret.len().min(buffer.len());
        buffer[..length].copy_from_slice(&secret[..length]);
        Ok(length)
    })
    .map_err(|_| match password {
        Some(_) => "its private key cannot be read with the password (AZURE_CLIENT_CERTIFICATE_PASSWORD)".to_string(),
        None => {
            "its private key cannot be read (if it is encrypted, set AZURE_CLIENT_CERTIFICATE_PASSWORD)".to_string()
        }
    })?;
    let position = certificates
        .iter()
        .position(|cert| cert.public_key().is_ok_and(|public| public.public_eq(&key)))
        .ok_or("none of its certificates belongs to its private key")?;
    let mut rest = certificates;
    let leaf = rest.remove(position);
    let chain = if rest.is_empty() {
        None
    } else {
        let mut stack = Stack::new().map_err(|e| e.to_string())?;
        for cert in rest {
            stack.push(cert).map_err(|e| e.to_string())?;
        }
        Some(stack)
    };
    Ok((key, leaf, chain))
}

fn clone_stack(stack: &Stack<X509>) -> Result<Stack<X509>, openssl::error::ErrorStack> {
    let mut copy = Stack::new()?;
    for cert in stack {
        copy.push(cert.to_owned())?;
    }
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::rsa::Rsa;
    use openssl::symm::Cipher;
    use openssl::x509::X509NameBuilder;

    fn self_signed() -> (PKey<Private>, X509) {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_nid(Nid::COMMONNAME, "migprep-test").unwrap();
        let name = name.build();
        let mut cert = X509::builder().unwrap();
        cert.set_version(2).unwrap();
        cert.set_serial_number(&BigNum::from_u32(7).unwrap().to_asn1_integer().unwrap()).unwrap();
        cert.set_subject_name(&name).unwrap();
        cert.set_issuer_name(&name).unwrap();
        cert.set_pubkey(&key).unwrap();
        cert.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
        cert.set_not_after(&Asn1Time::days_from_now(1).unwrap()).unwrap();
        cert.sign(&key, MessageDigest::sha256()).unwrap();
        (key, cert.build())
    }

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn pem_and_pfx_give_the_same_thumbprint() {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = self_signed();
        let mut pem = cert.to_pem().unwrap();
        pem.extend(key.private_key_to_pem_pkcs8().unwrap());
        let from_pem = read(&write(&dir, "c.pem", &pem), None).unwrap();
        assert_eq!(from_pem.subject.as_deref(), Some("migprep-test"));
        assert!(from_pem.password.is_none());
        let reopened = Pkcs12::from_der(&from_pem.pkcs12).unwrap().parse2("").unwrap();
        assert!(reopened.pkey.is_some() && reopened.cert.is_some());

        let pfx = Pkcs12::builder().name("x").pkey(&key).cert(&cert).build2("s3cret").unwrap().to_der().unwrap();
        let path = write(&dir, "c.pfx", &pfx);
        let from_pfx = read(&path, Some(&Secret::new("s3cret"))).unwrap();
        assert_eq!(from_pfx.thumbprint, from_pem.thumbprint);
        assert_eq!(from_pfx.thumbprint.len(), 40);

        let wrong = read(&path, Some(&Secret::new("wrong"))).unwrap_err().to_string();
        assert!(wrong.contains("AZURE_CLIENT_CERTIFICATE_PASSWORD") && wrong.contains("c.pfx"), "{wrong}");
        assert!(!wrong.contains("wrong\u{20}") && !wrong.contains("s3cret"), "{wrong}");
        let missing = read(&path, None).unwrap_err().to_string();
        assert!(missing.contains("needs a password"), "{missing}");
    }

    #[test]
    fn an_encrypted_pem_key_opens_with_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = self_signed();
        let mut pem = cert.to_pem().unwrap();
        pem.extend(key.private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), b"pw").unwrap());
        let path = write(&dir, "enc.pem", &pem);
        assert!(read(&path, Some(&Secret::new("pw"))).is_ok());
        let error = read(&path, None).unwrap_err().to_string();
        assert!(error.contains("AZURE_CLIENT_CERTIFICATE_PASSWORD"), "{error}");
    }

    #[test]
    fn unusable_files_are_named_without_their_content() {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = self_signed();
        let (other_key, _) = self_signed();
        let only_cert = read(&write(&dir, "cert.pem", &cert.to_pem().unwrap()), None).unwrap_err();
        assert!(only_cert.to_string().contains("no private key"), "{only_cert}");
        let mut mismatched = cert.to_pem().unwrap();
        mismatched.extend(other_key.private_key_to_pem_pkcs8().unwrap());
        let error = read(&write(&dir, "mismatch.pem", &mismatched), None).unwrap_err().to_string();
        assert!(error.contains("belongs to its private key"), "{error}");
        assert!(!error.contains("BEGIN PRIVATE KEY"), "{error}");
        let garbage = read(&write(&dir, "junk.bin", b"not a certificate"), None).unwrap_err();
        assert!(garbage.to_string().contains("neither PEM nor PFX"), "{garbage}");
        let absent = read(&dir.path().join("absent.pem"), None).unwrap_err();
        assert!(absent.to_string().contains("absent.pem") && absent.hint().is_some(), "{absent}");
        drop(key);
    }
}
