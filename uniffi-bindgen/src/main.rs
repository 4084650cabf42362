//! `uniffi-bindgen` built from the workspace, so the generator always matches the uniffi version the
//! cdylib was built with (library mode reads the metadata embedded in the library).

fn main() {
    uniffi::uniffi_bindgen_main()
}
