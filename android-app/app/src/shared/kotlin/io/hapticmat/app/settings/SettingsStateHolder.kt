package io.hapticmat.app.settings

import io.hapticmat.app.WhileUiSubscribed
import io.hapticmat.app.bluetooth.BluetoothAccess
import io.hapticmat.app.domain.CalibrationOutcome
import io.hapticmat.app.domain.DiscoveredMat
import io.hapticmat.app.domain.PresenceRepository
import io.hapticmat.app.format.Formats
import io.hapticmat.app.live.bluetoothNotice
import io.hapticmat.app.notice.Notice
import io.hapticmat.app.notice.Tone
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeoutOrNull
import java.time.ZoneId
import kotlin.time.Duration
import kotlin.time.Duration.Companion.hours
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

/**
 * The Settings screen's logic: pair a mat from a time-boxed BLE scan, calibrate the empty mat, and set
 * the absence timeout. Scans and calibrations run in [scope]; only one of each at a time.
 */
class SettingsStateHolder(
    private val repository: PresenceRepository,
    private val bluetooth: BluetoothAccess,
    private val scope: CoroutineScope,
    private val zone: ZoneId = ZoneId.systemDefault(),
    private val scanWindow: Duration = DEFAULT_SCAN_WINDOW,
) {
    private val scan = MutableStateFlow<ScanDisplay>(ScanDisplay.Idle)
    private val calibration = MutableStateFlow<CalibrationDisplay>(CalibrationDisplay.Idle)
    private var scanJob: Job? = null
    private var calibrationJob: Job? = null

    /** The screen state. */
    val uiState: StateFlow<SettingsUiState> = combine(
        combine(repository.pairedMat, repository.absenceTimeout, ::Pair),
        bluetooth.availability,
        scan,
        calibration,
        repository.updateOnWifiOnly,
    ) { (paired, timeout), availability, scan, calibration, wifiOnly ->
        SettingsUiState.Ready(
            pairedMat = paired,
            scan = scan,
            calibration = calibration,
            absenceTimeout = timeout,
            absenceTimeoutText = Formats.timeout(timeout),
            absenceTimeoutChoices = (ABSENCE_TIMEOUT_CHOICES + timeout).distinct().sorted(),
            bluetoothNotice = bluetoothNotice(availability),
            updateOnWifiOnly = wifiOnly,
        )
    }.stateIn(scope, WhileUiSubscribed, SettingsUiState.Loading)

    /** Scans for mats for the scan window; ignored while Bluetooth is unusable or a scan runs. */
    fun startScan() {
        if (scanJob?.isActive == true || bluetoothNotice(bluetooth.availability.value) != null) return
        scanJob = scope.launch {
            var found = emptyList<DiscoveredMat>()
            scan.value = ScanDisplay.Scanning(found)
            var failure: String? = null
            try {
                withTimeoutOrNull(scanWindow) {
                    repository.scan().collect { mats ->
                        found = mats
                        scan.value = ScanDisplay.Scanning(mats)
                    }
                }
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                failure = "The scan stopped: ${e.message ?: e::class.simpleName}"
            } finally {
                val message = failure ?: if (found.isEmpty()) NOTHING_FOUND else null
                scan.value = ScanDisplay.Finished(found, message)
            }
        }
    }

    /** Stops a running scan, keeping what it found. */
    fun stopScan() {
        scanJob?.cancel()
    }

    /** Pairs [mat] (ending the scan); a running session moves to it. */
    fun pair(mat: DiscoveredMat) {
        stopScan()
        scope.launch { repository.pair(mat) }
    }

    /** Captures the empty-mat baseline of the paired mat; ignored while one runs. */
    fun calibrate() {
        if (calibrationJob?.isActive == true) return
        calibrationJob = scope.launch {
            calibration.value = CalibrationDisplay.Running
            calibration.value = when (val outcome = repository.calibrate()) {
                is CalibrationOutcome.Done ->
                    CalibrationDisplay.Done("Calibrated ${Formats.dateTime(outcome.atMillis, zone)}")
                is CalibrationOutcome.Failed -> CalibrationDisplay.Failed(
                    Notice(title = "Calibration failed", detail = outcome.detail, tone = Tone.Problem),
                )
            }
        }
    }

    /** Stores whether automatic model updates wait for Wi-Fi. */
    fun setUpdateOnWifiOnly(wifiOnly: Boolean) {
        scope.launch { repository.setUpdateOnWifiOnly(wifiOnly) }
    }

    /** Stores a new absence timeout. */
    fun setAbsenceTimeout(timeout: Duration) {
        scope.launch { repository.setAbsenceTimeout(timeout) }
    }

    /** Defaults of the Settings screen. */
    companion object {
        /** How long one scan runs: long enough to find a mat in range, short enough to spare the battery. */
        val DEFAULT_SCAN_WINDOW: Duration = 15.seconds

        /** The absence timeouts offered (the current value is added when it is not one of them). */
        val ABSENCE_TIMEOUT_CHOICES: List<Duration> = listOf(2.minutes, 5.minutes, 10.minutes, 30.minutes, 1.hours)

        /** What a scan that found nothing says. */
        const val NOTHING_FOUND = "No mat found. Switch the mat on and keep the phone within a few metres."
    }
}
