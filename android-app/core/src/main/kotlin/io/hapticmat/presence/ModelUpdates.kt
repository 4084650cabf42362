package io.hapticmat.presence

import io.hapticmat.core.HapticMatException
import io.hapticmat.core.InstalledModelInfo
import io.hapticmat.core.ModelUpdater
import io.hapticmat.core.StoreHttpClient
import io.hapticmat.core.UpdateProgress
import io.hapticmat.core.UpdateProgressListener
import io.hapticmat.core.UpdateReport
import io.hapticmat.core.UpdateResult
import io.hapticmat.core.UpdaterSettings
import java.io.Closeable
import java.io.File
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.withContext

/**
 * Model updates: checks the store for a newer signed model, verifies and installs it into the app's
 * cache folder, and keeps the last known-good one. Create it with [open]; [close] frees it.
 */
class ModelUpdates private constructor(internal val native: ModelUpdater) : Closeable {
    /**
     * Checks the store now and installs a newer verified model; returns `Updated` or `UpToDate` with
     * the serving model. The work runs on a thread of the core; cancelling the calling coroutine
     * cancels it. Refusals throw [HapticMatException.UpdateUntrusted] (signature),
     * [HapticMatException.UpdateRefused] (expired, rollback, contract) or
     * [HapticMatException.ModelRejected] (hash, self-test); the serving model stays.
     */
    suspend fun checkNow(): UpdateResult = mapErrors {
        try {
            native.checkNow()
        } catch (e: CancellationException) {
            // Kotlin's cancellation frees the Rust future, which cancels the check; say it explicitly too.
            native.cancel()
            throw e
        }
    }

    /** Cancels the check in progress, if any (it throws [HapticMatException.Cancelled]). */
    fun cancel() = native.cancel()

    /** The model serving now, if one is installed. */
    val currentModel: InstalledModelInfo? get() = native.currentModel()

    /** The known-good model kept to fall back to, if any. */
    val knownGoodModel: InstalledModelInfo? get() = native.knownGoodModel()

    /** How the last check of this object ended, if one ran. */
    val lastOutcome: UpdateReport? get() = native.lastOutcome()

    /** Live progress subscriptions in Rust; 0 once every collection has ended. */
    val subscriptionCount: Int get() = native.subscriptionCount().toInt()

    /** The steps of every check from now on: manifest, download bytes, retries, verifying, finished. */
    val progress: Flow<UpdateProgress> = callbackFlow {
        val handle = native.subscribeProgress(object : UpdateProgressListener {
            override fun onProgress(progress: UpdateProgress) {
                trySend(progress)
            }
        })
        awaitClose { handle.close() }
    }.buffer(Channel.UNLIMITED)

    /** Frees the native updater (a check still running finishes on its own, unobserved); idempotent. */
    override fun close() = native.close()

    companion object {
        /**
         * Opens the updater for the store at [baseUrl] (`https://…/`, `http://…/` or `file:///…`) with
         * models kept in [cacheDir], trusting manifests signed by one of [publicKeys] (PEM, or the raw key
         * in base64 or hex). Reads the cache on [dispatcher].
         *
         * With [rootKey] (the offline root's public key, version [rootVersion]) the app pins the root
         * instead: the publisher keys then come from the store's root-signed `keys.json` and rotate, or
         * are revoked, without an app update; [publicKeys] may be empty. A key set the pinned root did not
         * sign, an expired one, or a manifest signed by a key it does not list or revokes throws
         * [HapticMatException.UpdateUntrusted].
         *
         * HTTP goes through [http], by default [UrlConnectionStoreHttp] (the platform's `HttpURLConnection`:
         * the device's CA store, the app's network security config). `null` uses the core's own client,
         * which only host builds carry: the Android library has no HTTP stack of its own.
         */
        suspend fun open(
            baseUrl: String,
            cacheDir: File,
            publicKeys: List<String>,
            dispatcher: CoroutineDispatcher = Dispatchers.IO,
            rootKey: String? = null,
            rootVersion: Long = 1,
            http: StoreHttpClient? = UrlConnectionStoreHttp(),
        ): ModelUpdates = withContext(dispatcher) {
            require(rootVersion >= 1) { "rootVersion must be at least 1, was $rootVersion" }
            val settings = UpdaterSettings(baseUrl, cacheDir.path, publicKeys, rootKey, rootVersion.toULong())
            mapErrors {
                ModelUpdates(if (http == null) ModelUpdater(settings) else ModelUpdater.withHttpClient(settings, http))
            }
        }

        /**
         * The first run, offline: installs the signed model the app carries, [bundle] being a folder laid
         * out by `pipeline publish` (`latest.json`, `history/`, `models/`), into [cacheDir] — verified
         * like any update (signature against the same pinned [publicKeys] or [rootKey], expiry, contract, hash,
         * self-test) and kept as the model to fall back to. Does nothing when a model is installed
         * already (a later update is never replaced by the bundle). Returns the model serving afterwards.
         * Refusals throw as [ModelUpdates.checkNow] does; a bundle that fails leaves the cache as it was.
         * Close any other [ModelUpdates] on [cacheDir] first: one updater per cache folder.
         */
        suspend fun installBundled(
            bundle: File,
            cacheDir: File,
            publicKeys: List<String>,
            dispatcher: CoroutineDispatcher = Dispatchers.IO,
            rootKey: String? = null,
            rootVersion: Long = 1,
        ): InstalledModelInfo = open(bundleUrl(bundle), cacheDir, publicKeys, dispatcher, rootKey, rootVersion).use { bundled ->
            bundled.currentModel ?: bundled.checkNow().model
        }

        /** The `file:` URL of a bundle folder, as [open] takes it, for a build without a store of its own. */
        fun bundleUrl(bundle: File): String = bundle.absoluteFile.toURI().toString().let { if (it.endsWith("/")) it else "$it/" }
    }
}
