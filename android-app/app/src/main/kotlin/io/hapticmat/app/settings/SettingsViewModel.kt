package io.hapticmat.app.settings

import androidx.lifecycle.ViewModel
import androidx.lifecycle.ViewModelProvider
import androidx.lifecycle.ViewModelProvider.AndroidViewModelFactory.Companion.APPLICATION_KEY
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.initializer
import androidx.lifecycle.viewmodel.viewModelFactory
import io.hapticmat.app.HapticMatApplication
import io.hapticmat.app.bluetooth.BluetoothAccess
import io.hapticmat.app.domain.DiscoveredMat
import io.hapticmat.app.domain.PresenceRepository
import kotlinx.coroutines.flow.StateFlow
import kotlin.time.Duration

/** The Settings screen's ViewModel: [SettingsStateHolder] in the ViewModel's scope. */
class SettingsViewModel(repository: PresenceRepository, bluetooth: BluetoothAccess) : ViewModel() {
    private val holder = SettingsStateHolder(repository, bluetooth, viewModelScope)

    /** The screen state. */
    val uiState: StateFlow<SettingsUiState> = holder.uiState

    /** Scans for mats. */
    fun startScan() = holder.startScan()

    /** Stops the scan. */
    fun stopScan() = holder.stopScan()

    /** Pairs [mat]. */
    fun pair(mat: DiscoveredMat) = holder.pair(mat)

    /** Calibrates the empty mat. */
    fun calibrate() = holder.calibrate()

    /** Stores the absence timeout. */
    fun setAbsenceTimeout(timeout: Duration) = holder.setAbsenceTimeout(timeout)

    /** Stores whether automatic model updates wait for Wi-Fi. */
    fun setUpdateOnWifiOnly(wifiOnly: Boolean) = holder.setUpdateOnWifiOnly(wifiOnly)

    /** Builds it from the application's container. */
    companion object {
        /** Factory for `viewModel(factory = …)`. */
        val Factory: ViewModelProvider.Factory = viewModelFactory {
            initializer {
                val container = (this[APPLICATION_KEY] as HapticMatApplication).container
                SettingsViewModel(container.repository, container.bluetooth)
            }
        }
    }
}
