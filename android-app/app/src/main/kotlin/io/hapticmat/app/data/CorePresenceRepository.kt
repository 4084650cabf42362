package io.hapticmat.app.data

import android.content.Context
import android.util.Log
import androidx.core.content.edit
import io.hapticmat.android.BundledModel
import io.hapticmat.android.NativeEnvironment
import io.hapticmat.app.domain.CalibrationOutcome
import io.hapticmat.app.domain.ConnectionStatus
import io.hapticmat.app.domain.DiscoveredMat
import io.hapticmat.app.domain.ModelBenchmark
import io.hapticmat.app.domain.ModelInfo
import io.hapticmat.app.domain.PersonalCalibrationState
import io.hapticmat.app.domain.PresenceLabel
import io.hapticmat.app.domain.PresenceReading
import io.hapticmat.app.domain.PresenceRepository
import io.hapticmat.app.domain.PressureFrame
import io.hapticmat.app.domain.UpdateFailure
import io.hapticmat.app.domain.UpdateOutcome
import io.hapticmat.app.domain.UpdateProgress
import io.hapticmat.core.BaselineStatus
import io.hapticmat.core.HapticMatException
import io.hapticmat.core.InstalledModelInfo
import io.hapticmat.core.MatDevice
import io.hapticmat.core.MatFrame
import io.hapticmat.core.MatSource
import io.hapticmat.core.MonitorState
import io.hapticmat.core.PersonalCalibrationStatus
import io.hapticmat.core.PresenceState
import io.hapticmat.core.SessionStatus
import io.hapticmat.presence.HapticMat
import io.hapticmat.presence.ModelUpdates
import io.hapticmat.presence.PresenceMonitor
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.channelFlow
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.dropWhile
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.flowOn
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.mapNotNull
import kotlinx.coroutines.flow.onStart
import kotlinx.coroutines.launch
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeoutOrNull
import java.io.File
import kotlin.time.Duration
import kotlin.time.Duration.Companion.microseconds
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds
import io.hapticmat.core.ConnectionStatus as CoreConnection
import io.hapticmat.core.UpdateOutcome as CoreOutcome
import io.hapticmat.core.UpdateProgress as CoreProgress

/**
 * [PresenceRepository] over rust-core's Kotlin facade ([PresenceMonitor], [ModelUpdates], [HapticMat]):
 * the one place the app meets the core's types. Settings (paired mat, absence timeout, last update
 * outcome) live in the app's preferences, the user's personal calibration in one file per mat under the
 * app's files folder (`personal/<mat id>.json`; one user for now); the core's native objects live as long
 * as the process.
 *
 * [environment] must come from `HapticMatNative.load`, which has loaded the native libraries.
 */
class CorePresenceRepository(
    private val context: Context,
    private val environment: NativeEnvironment,
    private val scope: CoroutineScope,
    private val store: ModelStore,
) : PresenceRepository {
    private val prefs = context.getSharedPreferences(PREFERENCES, Context.MODE_PRIVATE)
    private val personalDir = File(context.filesDir, PERSONAL_DIR)
    private val monitor = PresenceMonitor()
    private val barometer = Barometer(context) { hPa ->
        // A reading outside 500–1100 hPa is a faulty sensor: the core refuses it and keeps its trend.
        runCatching { monitor.setAmbientPressure(hPa) }
    }
    private val sessionLock = Mutex()
    private val paired = MutableStateFlow(loadPairedMat())
    private val timeout =
        MutableStateFlow(prefs.getLong(KEY_TIMEOUT_MS, DEFAULT_TIMEOUT.inWholeMilliseconds).milliseconds)
    private val installed = MutableStateFlow<ModelInfo?>(null)
    private val outcome = MutableStateFlow(loadOutcome())

    /** A failure to start the session, shown as the link's status until the next start. */
    private val startFailure = MutableStateFlow<ConnectionStatus?>(null)

    /** Why [updates] is null, for the Model screen. */
    @Volatile
    private var updatesUnavailable = "this build has no model store configured"

    /**
     * Opened once, on first use and off the main thread (it reads the model cache); null when this build
     * has no store or the cache cannot be opened — never a failed Deferred, which would crash its awaiters.
     */
    private val updates: Deferred<ModelUpdates?> = scope.async(start = CoroutineStart.LAZY) {
        // The first run, offline: the signed model this build carries, verified against the same pinned
        // keys as any update, becomes the installed (and fall-back) model; a model already installed stays.
        val bundle = withContext(Dispatchers.IO) {
            runCatching { BundledModel.unpack(context) }.onFailure { Log.w(TAG, "bundled model: ${it.message}") }.getOrNull()
        }
        if (bundle != null && store.hasTrust) {
            try {
                ModelUpdates.installBundled(
                    bundle, environment.modelCacheDir, store.publicKeys, rootKey = store.rootKey, rootVersion = store.rootVersion,
                )
            } catch (e: HapticMatException) {
                Log.w(TAG, "the bundled model was refused: ${e.message}")
            }
        }
        // Updates from the store when this build has one; else the bundle is the store (always up to date).
        val url = when {
            store.isConfigured -> store.baseUrl
            bundle != null && store.hasTrust -> ModelUpdates.bundleUrl(bundle)
            else -> return@async null
        }
        try {
            ModelUpdates.open(url, environment.modelCacheDir, store.publicKeys, rootKey = store.rootKey, rootVersion = store.rootVersion)
        } catch (e: HapticMatException) {
            updatesUnavailable = e.message.orEmpty()
            null
        }
    }

    init {
        HapticMat.setOnnxRuntimeLibrary(environment.onnxRuntimeLibrary)
        monitor.absenceTimeout = timeout.value
        scope.launch { refreshInstalledModel() }
    }

    override val readings: Flow<PresenceReading> =
        combine(monitor.states, monitor.frames.map<MatFrame, MatFrame?> { it }.onStart { emit(null) }) { state, frame ->
            state to frame
        }.filter { (state, _) -> state.session is SessionStatus.Running }
            .map { (state, frame) ->
                PresenceReading(
                    label = state.presence.toLabel(),
                    confidence = state.confidence,
                    timestampMillis = frame?.receivedAtMs ?: System.currentTimeMillis(),
                    inferenceLatency = monitor.stats.inferenceP50Us?.microseconds,
                    postureConfidence = state.postureConfidence,
                )
            }
            // A reading per frame (~6.7 Hz), each with a JNA call for the latency: off the collector's
            // (main) thread.
            .flowOn(Dispatchers.Default)

    // The core promises four pressures per frame; a frame that breaks the promise is dropped, not thrown.
    override val frames: Flow<PressureFrame> = monitor.frames.mapNotNull { frame ->
        frame.pressuresPa.takeIf { it.size == PressureFrame.BLADDERS }?.let { PressureFrame(frame.receivedAtMs, it) }
    }

    override val connection: Flow<ConnectionStatus> =
        combine(monitor.states, startFailure) { state, failure -> failure ?: state.toConnection() }

    override val pairedMat: Flow<DiscoveredMat?> = paired.asStateFlow()

    override val absenceTimeout: Flow<Duration> = timeout.asStateFlow()

    override val modelInfo: Flow<ModelInfo?> = installed.asStateFlow()

    override val lastUpdateOutcome: Flow<UpdateOutcome?> = outcome.asStateFlow()

    override val personalCalibration: Flow<PersonalCalibrationState> =
        monitor.personalCalibrationStatus.map { it.toDomain() }

    override suspend fun startSession() = sessionLock.withLock {
        if (monitor.state.session is SessionStatus.Running) return@withLock
        val mat = paired.value ?: return@withLock
        startFailure.value = null
        try {
            if (monitor.model == null) updates.await()?.let { monitor.useInstalledModel(it) }
            loadPersonalCalibration(mat)
            monitor.start(MatSource.Bluetooth(mat.id))
            barometer.start()
        } catch (e: HapticMatException) {
            startFailure.value = e.toStartFailure()
        }
    }

    override suspend fun stopSession() = sessionLock.withLock {
        startFailure.value = null
        barometer.stop()
        monitor.stop()
    }

    override suspend fun calibrate(): CalibrationOutcome {
        if (monitor.state.session !is SessionStatus.Running) {
            return CalibrationOutcome.Failed("Connect to the mat first: calibration measures the empty mat.")
        }
        try {
            monitor.calibrate(CALIBRATION)
        } catch (e: HapticMatException) {
            return CalibrationOutcome.Failed(e.message ?: "The core refused to calibrate.")
        }
        // The result arrives as the baseline's status: skip whatever came before this calibration.
        val result = withTimeoutOrNull(CALIBRATION + CALIBRATION_SLACK) {
            monitor.states.map { it.baseline }
                .dropWhile { it !is BaselineStatus.Calibrating }
                .first { it !is BaselineStatus.Calibrating }
        }
        return when (result) {
            is BaselineStatus.Calibrated -> CalibrationOutcome.Done(System.currentTimeMillis())
            is BaselineStatus.CalibrationFailed -> CalibrationOutcome.Failed(result.reason)
            null -> CalibrationOutcome.Failed("The calibration did not finish; is the mat still connected?")
            else -> CalibrationOutcome.Failed("The calibration ended without a baseline.")
        }
    }

    override suspend fun calibrateUser(): CalibrationOutcome {
        val mat = paired.value
        if (mat == null || monitor.state.session !is SessionStatus.Running) {
            return CalibrationOutcome.Failed("Connect to the mat first, then lie down fully on it.")
        }
        return try {
            withTimeoutOrNull(PERSONAL_CALIBRATION + CALIBRATION_SLACK) { monitor.calibrateUser(PERSONAL_CALIBRATION) }
                ?: return CalibrationOutcome.Failed("The calibration did not finish; is the mat still connected?")
            monitor.savePersonalCalibration(personalFile(mat))
            CalibrationOutcome.Done(System.currentTimeMillis())
        } catch (e: HapticMatException.PersonalCalibration) {
            // The core's reason, without its "personal calibration:" prefix: the screen says what failed.
            CalibrationOutcome.Failed(e.message.orEmpty().removePrefix("personal calibration: ").replaceFirstChar { it.uppercase() })
        } catch (e: HapticMatException) {
            CalibrationOutcome.Failed(e.message ?: "The core refused to calibrate.")
        }
    }

    private val wifiOnly = MutableStateFlow(prefs.getBoolean(KEY_WIFI_ONLY, false))

    override val updateOnWifiOnly: Flow<Boolean> = wifiOnly.asStateFlow()

    override suspend fun setUpdateOnWifiOnly(wifiOnly: Boolean) {
        prefs.edit { putBoolean(KEY_WIFI_ONLY, wifiOnly) }
        this.wifiOnly.value = wifiOnly
    }

    override suspend fun setAbsenceTimeout(timeout: Duration) {
        prefs.edit { putLong(KEY_TIMEOUT_MS, timeout.inWholeMilliseconds) }
        this.timeout.value = timeout
        // The core's own absence event is not what ends the session (SessionController is), but keep it
        // equal so both tell the same story in logs.
        monitor.absenceTimeout = timeout
    }

    /**
     * One scan in the core for as long as the collector wants (the Settings screen's scan window), the
     * mat's service first, then signal; cancelling the collector stops the radio in the core.
     */
    override fun scan(): Flow<List<DiscoveredMat>> = HapticMat.scanMats().map { mats -> mats.map { it.toDomain() } }

    override suspend fun pair(mat: DiscoveredMat) {
        prefs.edit {
            putString(KEY_MAT_ID, mat.id)
            putString(KEY_MAT_NAME, mat.name)
        }
        paired.value = mat
        sessionLock.withLock {
            if (monitor.state.session is SessionStatus.Running) {
                try {
                    loadPersonalCalibration(mat)
                    monitor.start(MatSource.Bluetooth(mat.id)) // stops the running session first
                } catch (e: HapticMatException) {
                    startFailure.value = e.toStartFailure()
                }
            }
        }
    }

    override fun updateNow(): Flow<UpdateProgress> = channelFlow {
        val updater = updates.await()
        if (updater == null) {
            send(UpdateProgress.Finished(failed(UpdateFailure.Other, updatesUnavailable)))
            return@channelFlow
        }
        val steps = launch { updater.progress.collect { step -> step.toDomain()?.let { send(it) } } }
        val ended = try {
            val result = updater.checkNow()
            if (result.outcome == CoreOutcome.UPDATED) {
                // The running session switches to the new model at once (or keeps the known-good one).
                monitor.useInstalledModel(updater)
                UpdateOutcome.Installed(System.currentTimeMillis(), result.model.version)
            } else {
                UpdateOutcome.UpToDate(System.currentTimeMillis(), result.model.version)
            }
        } catch (e: HapticMatException) {
            failed(e.toUpdateFailure(), e.message.orEmpty())
        }
        steps.cancel()
        record(ended)
        refreshInstalledModel()
        send(UpdateProgress.Finished(ended))
    }

    override suspend fun benchmarkModels(): List<ModelBenchmark> {
        val installed = updates.await()?.currentModel?.path?.let { File(it) }
        // The installed model first (what the monitor runs), then the fp32 and int8 models the build
        // carries for comparison; the first model loaded also pays ONNX Runtime's one-time buffers.
        val models = listOfNotNull(installed?.let { "installed" to it }) +
            benchmarkModels().map { file -> file.nameWithoutExtension to file }
        if (models.isEmpty()) throw IllegalStateException("no model on this phone yet: run Update now")
        return models.map { (origin, file) ->
            val b = HapticMat.benchmarkModel(file, BENCHMARK_CALLS)
            ModelBenchmark(
                model = "${if (b.quantized) "int8" else "fp32"} · $origin",
                sizeBytes = b.sizeBytes.toLong(),
                loadMs = b.loadMs,
                p50Us = b.p50Us,
                p99Us = b.p99Us,
                throughputPerS = b.throughputPerS,
                memoryBytes = b.memoryBytes?.toLong(),
            )
        }
    }

    /**
     * Models the build carries only to be benchmarked (`-Phapticmat.benchmarkModels`, e.g. the run's fp32
     * and int8), unpacked with the bundle; never used for presence.
     */
    private fun benchmarkModels(): List<File> =
        File(context.noBackupFilesDir, "${BundledModel.ASSET_DIR}/$BENCHMARK_DIR").listFiles { f -> f.extension == "onnx" }
            .orEmpty().sortedBy { it.name }

    private suspend fun refreshInstalledModel() {
        val updater = updates.await() ?: return
        val model = updater.currentModel
        // The record has no install time; the file was written moments before its atomic install.
        val installedAt = model?.let { withContext(Dispatchers.IO) { File(it.path).lastModified() } }?.takeIf { it > 0 }
        val lastCheck = updater.lastOutcome?.finishedAt?.toEpochMilli() ?: outcome.value?.atMillis
        installed.value = model?.toDomain(installedAt, lastCheck)
    }

    private fun record(ended: UpdateOutcome) {
        outcome.value = ended
        prefs.edit {
            putLong(KEY_OUTCOME_AT, ended.atMillis)
            val (kind, text) = when (ended) {
                is UpdateOutcome.Installed -> "installed" to ended.version
                is UpdateOutcome.UpToDate -> "up_to_date" to ended.version
                is UpdateOutcome.Failed -> "failed:${ended.reason.name}" to ended.detail
            }
            putString(KEY_OUTCOME_KIND, kind)
            putString(KEY_OUTCOME_TEXT, text)
        }
    }

    private fun loadOutcome(): UpdateOutcome? {
        val kind = prefs.getString(KEY_OUTCOME_KIND, null) ?: return null
        val at = prefs.getLong(KEY_OUTCOME_AT, 0)
        val text = prefs.getString(KEY_OUTCOME_TEXT, null).orEmpty()
        return when {
            kind == "installed" -> UpdateOutcome.Installed(at, text)
            kind == "up_to_date" -> UpdateOutcome.UpToDate(at, text)
            kind.startsWith("failed:") -> UpdateOutcome.Failed(
                at,
                UpdateFailure.entries.firstOrNull { it.name == kind.removePrefix("failed:") } ?: UpdateFailure.Other,
                text,
            )
            else -> null // written by a newer version of the app
        }
    }

    /** The user's file for [mat]: the id (a Bluetooth address) made safe as a file name. */
    private fun personalFile(mat: DiscoveredMat) =
        File(personalDir, mat.id.replace(Regex("[^A-Za-z0-9._-]"), "_") + ".json")

    /** Uses the user's personal calibration on [mat], or none; an unreadable file counts as none. */
    private suspend fun loadPersonalCalibration(mat: DiscoveredMat) {
        try {
            monitor.loadPersonalCalibration(personalFile(mat))
        } catch (e: HapticMatException) {
            monitor.personalCalibration = null
        }
    }

    private fun loadPairedMat(): DiscoveredMat? {
        val id = prefs.getString(KEY_MAT_ID, null) ?: return null
        return DiscoveredMat(id = id, name = prefs.getString(KEY_MAT_NAME, null))
    }

    private companion object {
        const val PREFERENCES = "presence"
        const val PERSONAL_DIR = "personal"
        const val KEY_MAT_ID = "paired_mat_id"
        const val KEY_MAT_NAME = "paired_mat_name"
        const val KEY_TIMEOUT_MS = "absence_timeout_ms"
        const val KEY_OUTCOME_KIND = "last_update_kind"
        const val KEY_OUTCOME_AT = "last_update_at_ms"
        const val KEY_OUTCOME_TEXT = "last_update_text"

        /** The product's default: the same 10 minutes the core's monitor defaults to. */
        val DEFAULT_TIMEOUT = 10.minutes

        /** The bundle's folder of models carried only for the benchmark. */
        const val BENCHMARK_DIR = "benchmark"

        /** Preference: automatic model updates only on an unmetered network. */
        const val KEY_WIFI_ONLY = "update_on_wifi_only"

        /** Logcat tag. */
        const val TAG = "HapticMat"

        /** Timed calls per model in the benchmark (about a second each on a phone). */
        const val BENCHMARK_CALLS = 10_000

        /** How long the empty mat is measured. */
        val CALIBRATION = 10.seconds

        /** How long the user lies on the mat for their personal calibration. */
        val PERSONAL_CALIBRATION = PersonalCalibrationState.DURATION

        /** Waiting for the result beyond the measurement itself (frames arrive every ~150 ms). */
        val CALIBRATION_SLACK = 20.seconds
    }
}

private fun failed(reason: UpdateFailure, detail: String) =
    UpdateOutcome.Failed(System.currentTimeMillis(), reason, detail)

private fun PresenceState.toLabel(): PresenceLabel? = when (this) {
    PresenceState.UNKNOWN -> null
    PresenceState.ABSENT -> PresenceLabel.Absent
    PresenceState.SITTING -> PresenceLabel.Sitting
    PresenceState.LYING_FULL -> PresenceLabel.LyingFull
    PresenceState.LYING_PARTIAL -> PresenceLabel.LyingPartial
}

private fun MonitorState.toConnection(): ConnectionStatus {
    val session = session
    if (session is SessionStatus.Failed) return ConnectionStatus.Failed(session.message)
    return when (val link = connection) {
        is CoreConnection.Idle -> ConnectionStatus.Idle
        is CoreConnection.Scanning -> ConnectionStatus.Searching
        is CoreConnection.Connected -> ConnectionStatus.Connected(link.source)
        is CoreConnection.Disconnected -> ConnectionStatus.OutOfRange(attempt = 0)
        is CoreConnection.Reconnecting -> ConnectionStatus.OutOfRange(attempt = link.attempt.toInt())
    }
}

private fun HapticMatException.toStartFailure(): ConnectionStatus = when (this) {
    is HapticMatException.BluetoothUnavailable -> ConnectionStatus.BluetoothOff
    is HapticMatException.ModelNotLoaded, is HapticMatException.NoModelInstalled ->
        ConnectionStatus.Failed("no presence model yet — run “Update now” on the Model screen")
    else -> ConnectionStatus.Failed(message.orEmpty())
}

private fun HapticMatException.toUpdateFailure(): UpdateFailure = when (this) {
    is HapticMatException.Network -> UpdateFailure.Network
    is HapticMatException.UpdateUntrusted, is HapticMatException.UpdateRefused -> UpdateFailure.Verification
    is HapticMatException.ModelRejected, is HapticMatException.InvalidModel -> UpdateFailure.ModelRejected
    is HapticMatException.Storage -> UpdateFailure.Storage
    else -> UpdateFailure.Other
}

private fun CoreProgress.toDomain(): UpdateProgress? = when (this) {
    is CoreProgress.CheckingManifest -> UpdateProgress.Checking
    is CoreProgress.Downloading -> UpdateProgress.Downloading(receivedBytes.toLong(), totalBytes.toLong())
    is CoreProgress.Retrying -> UpdateProgress.Retrying(attempt.toInt(), reason)
    is CoreProgress.Verifying -> UpdateProgress.Verifying
    // The adapter reports the end itself, with the version and the reason the core's event lacks.
    is CoreProgress.Finished -> null
}

private fun PersonalCalibrationStatus.toDomain(): PersonalCalibrationState = when (this) {
    is PersonalCalibrationStatus.Missing -> PersonalCalibrationState.None
    is PersonalCalibrationStatus.Measuring -> PersonalCalibrationState.Measuring(remainingS.seconds)
    is PersonalCalibrationStatus.Calibrated -> PersonalCalibrationState.Calibrated(referenceLoadPa)
    is PersonalCalibrationStatus.Failed -> PersonalCalibrationState.Failed(reason, previousInUse = referenceLoadPa != null)
}

private fun MatDevice.toDomain() = DiscoveredMat(id = id, name = name, rssi = rssi?.toInt())

private fun InstalledModelInfo.toDomain(installedAtMillis: Long?, lastCheckAtMillis: Long?) = ModelInfo(
    // The installed-model record has no name (the manifest's stays in the core); the file is named by hash.
    name = "Presence model",
    version = version,
    sequence = sequence.toLong(),
    sha256 = sha256,
    sourceRunId = sourceRunId,
    installedAtMillis = installedAtMillis,
    lastCheckAtMillis = lastCheckAtMillis,
)
