package io.hapticmat.app.ui.navigation

import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Icon
import androidx.compose.material3.NavigationBar
import androidx.compose.material3.NavigationBarItem
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier

/**
 * The frame around every screen: the [current] destination's content above a navigation bar.
 * Stateless: the caller keeps the destination (saved across configuration changes on Android).
 */
@Composable
fun HapticMatAppShell(
    current: TopLevelDestination,
    onNavigate: (TopLevelDestination) -> Unit,
    modifier: Modifier = Modifier,
    content: @Composable (TopLevelDestination) -> Unit,
) {
    Scaffold(
        modifier = modifier,
        bottomBar = {
            NavigationBar {
                for (destination in TopLevelDestination.entries) {
                    NavigationBarItem(
                        selected = destination == current,
                        onClick = { onNavigate(destination) },
                        icon = { Icon(destination.icon, contentDescription = null) },
                        label = { Text(destination.label) },
                    )
                }
            }
        },
    ) { padding ->
        Box(Modifier.padding(padding)) { content(current) }
    }
}
