//! The page in dist/ is embedded into release builds (see src/assets.rs):
//! rebuild when trunk writes a new one, even if only file names changed.
fn main() {
    println!("cargo:rerun-if-changed=../dist");
}
