//! Builds the oneDNN module when oneDNN's headers and library are installed (Debian:
//! `libdnnl-dev`), and goes on without it otherwise: the engine is then reported as absent at
//! run time and everything runs on Burn's Flex backend.
//!
//! `CRUCIATE_DNNL=required` makes a missing oneDNN a build error (CI sets it, so that the
//! engine's tests cannot silently fall back); `CRUCIATE_DNNL=off` builds without it.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(cruciate_dnnl)");
    println!("cargo::rerun-if-changed=csrc");
    println!("cargo::rerun-if-env-changed=CRUCIATE_DNNL");
    println!("cargo::rerun-if-env-changed=DNNL_ROOT");
    let wanted = std::env::var("CRUCIATE_DNNL").unwrap_or_default();
    if wanted == "off" {
        return;
    }
    let root = std::env::var("DNNL_ROOT").ok();
    let mut build = cc::Build::new();
    build
        .file("csrc/dnnl_stack.c")
        .file("csrc/dnnl_train.c")
        .opt_level(2)
        .warnings(true)
        .cargo_warnings(false);
    if let Some(root) = &root {
        build.include(format!("{root}/include"));
    }
    match build.try_compile("cruciate_dnnl_stack") {
        Ok(()) => {
            if let Some(root) = &root {
                println!("cargo::rustc-link-search=native={root}/lib");
            }
            println!("cargo::rustc-link-lib=dylib=dnnl");
            println!("cargo::rustc-cfg=cruciate_dnnl");
        }
        Err(e) if wanted == "required" => {
            panic!("CRUCIATE_DNNL=required but oneDNN could not be built against: {e}")
        }
        Err(_) => println!(
            "cargo::warning=oneDNN not found (apt install libdnnl-dev, or set DNNL_ROOT): \
             the dnnl engine is left out and models run on Burn's Flex backend"
        ),
    }
}
