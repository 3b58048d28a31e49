// The Linux body's entry point. The runner is C (c/body_main.c) so that it embeds WAMR exactly as the
// firmware's main task does; this crate only gets WAMR built from the crate registry (wamrx-sys) and links.
use std::ffi::CString;
use std::os::raw::{c_char, c_int};

// Links the vendored WAMR (libiwasm) that the C runner calls.
use wamrx_sys as _;

extern "C" {
    fn main_c(argc: c_int, argv: *mut *mut c_char) -> c_int;
}

fn main() {
    let args: Vec<CString> = std::env::args().map(|a| CString::new(a).expect("no NUL in arguments")).collect();
    let mut argv: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr() as *mut c_char).collect();
    argv.push(std::ptr::null_mut());
    // SAFETY: argv holds argc valid NUL-terminated strings and a final null, alive across the call.
    let code = unsafe { main_c(args.len() as c_int, argv.as_mut_ptr()) };
    std::process::exit(code);
}
