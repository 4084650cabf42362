//! Android process start-up: `JNI_OnLoad` runs when the app calls `System.loadLibrary("hapticmat_core")`
//! (JNA's `Native.load` does not run it, docs/design.md §8), before the first UniFFI call. It routes `log` to
//! logcat and initialises btleplug's Android backend, which needs a JNI environment on a thread whose
//! class loader sees the app's classes (btleplug's droidplug Java classes are in the AAR).
//!
//! Compiled only for Android: by the AAR's cargo-ndk task with the NDK, and without it by
//! scripts/check-android.sh (a verification build run by the tests; nothing here loads it).

use jni::JavaVM;
use jni::sys::{JNI_ERR, JNI_VERSION_1_6, jint};
use std::ffi::c_void;

/// Why start-up failed; logged, since `JNI_OnLoad` can only answer with a status code.
#[derive(Debug, thiserror::Error)]
enum StartupError {
    #[error("JNI: {0}")]
    Jni(#[from] jni::errors::Error),
    #[error("btleplug Android backend: {0}")]
    Bluetooth(#[from] btleplug::Error),
}

/// Called by the JVM once, when `System.loadLibrary` loads this library.
///
/// # Safety
/// The JVM passes a valid `JavaVM` pointer; nothing else calls this.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn JNI_OnLoad(vm: *mut jni::sys::JavaVM, _reserved: *mut c_void) -> jint {
    android_logger::init_once(
        android_logger::Config::default().with_tag("hapticmat").with_max_level(log::LevelFilter::Info),
    );
    if vm.is_null() {
        log::error!("JNI_OnLoad without a JavaVM");
        return JNI_ERR;
    }
    // SAFETY: the pointer comes from the JVM that is loading us and lives as long as the process.
    let vm = unsafe { JavaVM::from_raw(vm) };
    // A panic must not unwind into the JVM.
    let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        vm.attach_current_thread(|env| -> Result<(), StartupError> {
            btleplug::platform::init(env)?;
            Ok(())
        })
    }));
    match started {
        Ok(Ok(())) => {
            log::info!("hapticmat core {} loaded; Bluetooth backend ready", env!("CARGO_PKG_VERSION"));
            JNI_VERSION_1_6
        }
        // The library stays usable for replay and model updates without Bluetooth: report, do not refuse.
        Ok(Err(e)) => {
            log::error!("Bluetooth unavailable: {e}");
            JNI_VERSION_1_6
        }
        Err(_) => {
            log::error!("panic while initialising the Bluetooth backend");
            JNI_VERSION_1_6
        }
    }
}
