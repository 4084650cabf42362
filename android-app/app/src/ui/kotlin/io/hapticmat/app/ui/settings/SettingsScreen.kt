package io.hapticmat.app.ui.settings

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.selection.selectable
import androidx.compose.foundation.selection.selectableGroup
import androidx.compose.foundation.selection.toggleable
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.RadioButton
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.semantics.Role
import androidx.compose.ui.unit.dp
import io.hapticmat.app.domain.DiscoveredMat
import io.hapticmat.app.format.Formats
import io.hapticmat.app.notice.NoticeAction
import io.hapticmat.app.settings.CalibrationDisplay
import io.hapticmat.app.settings.ScanDisplay
import io.hapticmat.app.settings.SettingsUiState
import io.hapticmat.app.ui.component.NoticeCard
import io.hapticmat.app.ui.component.Section
import kotlin.time.Duration

/** The Settings screen: pair the mat from a scan, calibrate the empty mat, and pick the absence timeout. */
@Composable
fun SettingsScreen(
    uiState: SettingsUiState,
    onScan: () -> Unit,
    onStopScan: () -> Unit,
    onPair: (DiscoveredMat) -> Unit,
    onCalibrate: () -> Unit,
    onAbsenceTimeoutChange: (Duration) -> Unit,
    onNoticeAction: (NoticeAction) -> Unit,
    modifier: Modifier = Modifier,
    onUpdateOnWifiOnlyChange: (Boolean) -> Unit = {},
) {
    when (uiState) {
        SettingsUiState.Loading -> Box(modifier.fillMaxSize(), contentAlignment = Alignment.Center) {
            CircularProgressIndicator()
        }
        is SettingsUiState.Ready -> Column(
            modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(16.dp),
            verticalArrangement = Arrangement.spacedBy(24.dp),
        ) {
            uiState.bluetoothNotice?.let { NoticeCard(it, onNoticeAction) }
            PairingSection(uiState, onScan, onStopScan, onPair)
            CalibrationSection(uiState, onCalibrate, onNoticeAction)
            AbsenceTimeoutSection(uiState, onAbsenceTimeoutChange)
            ModelUpdatesSection(uiState, onUpdateOnWifiOnlyChange)
        }
    }
}

@Composable
private fun PairingSection(
    state: SettingsUiState.Ready,
    onScan: () -> Unit,
    onStopScan: () -> Unit,
    onPair: (DiscoveredMat) -> Unit,
) {
    Section("Mat") {
        val paired = state.pairedMat
        Text(
            if (paired == null) "No mat paired" else "Paired with ${paired.name ?: "unnamed mat"} (${paired.id})",
            style = MaterialTheme.typography.bodyLarge,
        )
        when (val scan = state.scan) {
            is ScanDisplay.Scanning -> {
                LinearProgressIndicator(Modifier.fillMaxWidth())
                MatList(scan.mats, paired, onPair)
                OutlinedButton(onClick = onStopScan) { Text("Stop scan") }
            }
            is ScanDisplay.Finished -> {
                MatList(scan.mats, paired, onPair)
                scan.message?.let { Text(it, style = MaterialTheme.typography.bodyMedium) }
                Button(onClick = onScan, enabled = state.canScan) { Text("Scan again") }
            }
            ScanDisplay.Idle -> Button(onClick = onScan, enabled = state.canScan) { Text("Scan for mats") }
        }
    }
}

@Composable
private fun MatList(mats: List<DiscoveredMat>, paired: DiscoveredMat?, onPair: (DiscoveredMat) -> Unit) {
    Column {
        for (mat in mats) {
            ListItem(
                headlineContent = { Text(mat.name ?: "Unnamed mat") },
                supportingContent = { Text(mat.id) },
                trailingContent = {
                    Text(
                        when {
                            mat.id == paired?.id -> "Paired"
                            mat.rssi != null -> "${mat.rssi} dBm"
                            else -> ""
                        },
                    )
                },
                modifier = Modifier.clickable(onClickLabel = "Pair this mat") { onPair(mat) },
            )
        }
    }
}

@Composable
private fun CalibrationSection(
    state: SettingsUiState.Ready,
    onCalibrate: () -> Unit,
    onNoticeAction: (NoticeAction) -> Unit,
) {
    Section("Calibration") {
        Text(
            "Clear the mat completely, then calibrate: HapticMat measures the empty mat as its zero. " +
                "Do it again after moving the mat.",
            style = MaterialTheme.typography.bodyMedium,
        )
        when (val calibration = state.calibration) {
            CalibrationDisplay.Running -> {
                Text("Measuring the empty mat — keep it clear…", style = MaterialTheme.typography.bodyLarge)
                LinearProgressIndicator(Modifier.fillMaxWidth())
            }
            is CalibrationDisplay.Done -> Text(calibration.text, style = MaterialTheme.typography.bodyLarge)
            is CalibrationDisplay.Failed -> NoticeCard(calibration.notice, onNoticeAction)
            CalibrationDisplay.Idle -> Unit
        }
        Button(onClick = onCalibrate, enabled = state.canCalibrate) { Text("Calibrate empty mat") }
    }
}

@Composable
private fun AbsenceTimeoutSection(state: SettingsUiState.Ready, onAbsenceTimeoutChange: (Duration) -> Unit) {
    Section("Absence timeout") {
        Text(
            "Stop the session and close HapticMat when nobody has been on the mat for:",
            style = MaterialTheme.typography.bodyMedium,
        )
        Column(Modifier.selectableGroup()) {
            for (choice in state.absenceTimeoutChoices) {
                val selected = choice == state.absenceTimeout
                Row(
                    Modifier
                        .fillMaxWidth()
                        .selectable(selected, role = Role.RadioButton) { onAbsenceTimeoutChange(choice) }
                        .padding(vertical = 4.dp),
                    verticalAlignment = Alignment.CenterVertically,
                ) {
                    RadioButton(selected = selected, onClick = null)
                    Text(Formats.timeout(choice), Modifier.padding(start = 12.dp))
                }
            }
        }
    }
}

@Composable
private fun ModelUpdatesSection(state: SettingsUiState.Ready, onChange: (Boolean) -> Unit) {
    Section("Model updates") {
        Row(
            Modifier
                .fillMaxWidth()
                .toggleable(state.updateOnWifiOnly, role = Role.Switch, onValueChange = onChange)
                .padding(vertical = 4.dp),
            verticalAlignment = Alignment.CenterVertically,
        ) {
            Text("Download model updates on Wi-Fi only", Modifier.weight(1f))
            Switch(checked = state.updateOnWifiOnly, onCheckedChange = null)
        }
        Text(
            "HapticMat looks for a newer presence model when it starts and once a day.",
            style = MaterialTheme.typography.bodyMedium,
        )
    }
}
