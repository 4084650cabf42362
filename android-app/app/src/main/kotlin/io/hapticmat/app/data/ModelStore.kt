package io.hapticmat.app.data

import io.hapticmat.app.BuildConfig

/** Where models come from: the production bucket's URL and the pinned public keys of the signer. */
data class ModelStore(val baseUrl: String, val publicKeys: List<String>) {
    /** Whether this build was given a store at all. */
    val isConfigured: Boolean get() = baseUrl.isNotBlank() && publicKeys.isNotEmpty()

    /** Built from this build's configuration. */
    companion object {
        /**
         * The store baked into this build from the Gradle properties `hapticmat.modelStoreUrl` and
         * `hapticmat.modelPublicKeys` (android-app/gradle.properties or `-P`); public values, no secret.
         */
        fun fromBuildConfig() = ModelStore(
            baseUrl = BuildConfig.MODEL_STORE_URL,
            publicKeys = BuildConfig.MODEL_PUBLIC_KEYS.split(',').map(String::trim).filter(String::isNotEmpty),
        )
    }
}
