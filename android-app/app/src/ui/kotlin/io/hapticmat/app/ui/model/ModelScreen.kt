package io.hapticmat.app.ui.model

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import io.hapticmat.app.model.BenchmarkDisplay
import io.hapticmat.app.model.ModelDisplay
import io.hapticmat.app.model.ModelUiState
import io.hapticmat.app.model.UpdateDisplay
import io.hapticmat.app.ui.component.LabeledValue
import io.hapticmat.app.ui.component.NoticeCard
import io.hapticmat.app.ui.component.Section

/** The Model screen: the model in use, its latency, and "update now" with progress and failures. */
@Composable
fun ModelScreen(
    uiState: ModelUiState,
    onUpdateNow: () -> Unit,
    onCancelUpdate: () -> Unit,
    modifier: Modifier = Modifier,
    onRunBenchmark: () -> Unit = {},
) {
    when (uiState) {
        ModelUiState.Loading -> Box(modifier.fillMaxSize(), contentAlignment = Alignment.Center) {
            CircularProgressIndicator()
        }
        is ModelUiState.Ready -> Column(
            modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(16.dp),
            verticalArrangement = Arrangement.spacedBy(24.dp),
        ) {
            Section("Model in use") {
                val model = uiState.model
                if (model == null) {
                    Text("No model installed yet", style = MaterialTheme.typography.headlineSmall)
                    Text(
                        "HapticMat downloads its presence model on the first update check.",
                        style = MaterialTheme.typography.bodyMedium,
                    )
                } else {
                    ModelDetails(model)
                }
                LabeledValue("Last check", uiState.lastCheck)
                LabeledValue("Latency", uiState.latency)
            }
            Section("Updates") { UpdateControl(uiState.update, onUpdateNow, onCancelUpdate) }
            Section("Benchmark on this phone") { BenchmarkControl(uiState.benchmark, onRunBenchmark) }
        }
    }
}

@Composable
private fun ModelDetails(model: ModelDisplay) {
    Text("${model.name} ${model.version}", style = MaterialTheme.typography.headlineSmall)
    LabeledValue("Version", model.version)
    LabeledValue("Sequence", model.sequence.toString())
    LabeledValue("SHA-256", model.sha256, monospace = true)
    LabeledValue("Source run", model.sourceRun, monospace = true)
    model.installedAt?.let { LabeledValue("Installed", it) }
}

@Composable
private fun UpdateControl(update: UpdateDisplay, onUpdateNow: () -> Unit, onCancelUpdate: () -> Unit) {
    when (update) {
        is UpdateDisplay.Running -> {
            Text(update.stage, style = MaterialTheme.typography.bodyLarge)
            val fraction = update.fraction
            if (fraction != null) {
                LinearProgressIndicator(progress = { fraction }, modifier = Modifier.fillMaxWidth())
            } else {
                LinearProgressIndicator(modifier = Modifier.fillMaxWidth())
            }
            TextButton(onClick = onCancelUpdate) { Text("Cancel") }
        }
        is UpdateDisplay.Idle -> {
            update.lastOutcome?.let { NoticeCard(it, onAction = {}) }
            Row { Button(onClick = onUpdateNow, enabled = update.canStart) { Text("Update now") } }
        }
        is UpdateDisplay.Failed -> {
            NoticeCard(update.notice, onAction = {})
            Row { Button(onClick = onUpdateNow, enabled = update.canStart) { Text("Try again") } }
        }
    }
}

@Composable
private fun BenchmarkControl(benchmark: BenchmarkDisplay, onRun: () -> Unit) {
    Text(
        "Runs each model on this phone through HapticMat's core: load time, latency of one reading, " +
            "readings per second, memory and size.",
        style = MaterialTheme.typography.bodyMedium,
    )
    when (benchmark) {
        BenchmarkDisplay.Idle -> Unit
        BenchmarkDisplay.Running -> LinearProgressIndicator(Modifier.fillMaxWidth())
        is BenchmarkDisplay.Failed -> Text("The benchmark could not run: ${benchmark.detail}", color = MaterialTheme.colorScheme.error)
        is BenchmarkDisplay.Done -> benchmark.rows.forEach { row ->
            Column(verticalArrangement = Arrangement.spacedBy(2.dp)) {
                Text(row.model, style = MaterialTheme.typography.titleSmall)
                LabeledValue("Latency p50 / p99", "${row.p50} / ${row.p99}")
                LabeledValue("Throughput", row.throughput)
                LabeledValue("Load", row.load)
                LabeledValue("Memory", row.memory)
                LabeledValue("Size", row.size)
            }
        }
    }
    Button(onClick = onRun, enabled = benchmark != BenchmarkDisplay.Running) { Text("Run benchmark") }
}
