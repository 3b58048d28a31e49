// Compiles the firmware's portable HAL natives (../hal), the Linux port (../port-linux) and the runner's C
// core (c/) against Debian's mbedTLS, with WAMR's headers from the wamrx-sys crate in cargo's registry. The
// port's SHA-256/512 is Debian's OpenSSL libcrypto (port-linux/sha_linux.c: SHA-NI, as node:crypto's).
use std::path::PathBuf;
use std::process::Command;

/// wamrx-sys publishes no include path (no `links` metadata), so it is found through cargo metadata.
fn wamr_include() -> PathBuf {
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("Cargo.toml");
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--filter-platform", &target, "--manifest-path"])
        .arg(&manifest)
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8 metadata");
    // The one manifest_path that ends in wamrx-sys-<version>/Cargo.toml; no JSON parser needed for it.
    let key = "\"manifest_path\":\"";
    for part in text.split(key).skip(1) {
        let path = &part[..part.find('"').expect("closing quote")];
        if path.contains("/wamrx-sys-") && path.ends_with("/Cargo.toml") {
            let dir = PathBuf::from(path).parent().unwrap().join("wasm-micro-runtime/core/iwasm/include");
            assert!(dir.join("wasm_export.h").exists(), "no wasm_export.h under {}", dir.display());
            return dir;
        }
    }
    panic!("wamrx-sys is not in cargo metadata");
}

fn main() {
    let fw = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    let sources = [
        "hal/hal_aes.c",
        "hal/hal_sha.c",
        "hal/hal_rsa_chacha.c",
        "hal/hal_io.c",
        "hal/hal_se.c",
        "hal/hal_meter.c",
        "hal/hal_trace.c",
        "hal/hal_prov.c",
        "hal/shidi_drbg.c",
        "port-linux/port_linux.c",
        "port-linux/sha_linux.c",
        "port-linux/sd_linux.c",
        "port-linux/state_linux.c",
        "port-linux/se_linux.c",
        "port-linux/se_keygen.c",
        "port-linux/counter_linux.c",
        "loader/shidi_loader.c",
        "port-linux/serial_linux.c",
        "port-linux/efuse_linux.c",
        "host-linux/c/wire.c",
        "host-linux/c/core_boot.c",
        "host-linux/c/body_main.c",
    ];
    let mut build = cc::Build::new();
    build
        .include(wamr_include())
        .include(fw.join("main"))
        .include(fw.join("hal"))
        .include(fw.join("port-linux"))
        .include(fw.join("loader"))
        .include(fw.join("host-linux/c"))
        .flag("-std=c11")
        .define("_DEFAULT_SOURCE", None)
        .warnings(true)
        .extra_warnings(true)
        .flag("-Wno-unused-parameter")
        .flag("-Wno-unused-variable")
        .warnings_into_errors(true);
    for s in sources {
        build.file(fw.join(s));
        println!("cargo:rerun-if-changed={}", fw.join(s).display());
    }
    for dir in ["main", "hal", "port-linux", "loader", "host-linux/c"] {
        println!("cargo:rerun-if-changed={}", fw.join(dir).display());
    }
    build.compile("shidi_body");
    println!("cargo:rustc-link-lib=mbedcrypto");
    println!("cargo:rustc-link-lib=crypto");
}
