package io.hapticmat.app.notice

/**
 * A message a screen shows a person about something they may need to act on: what is wrong ([title]),
 * why it matters or what to do ([detail]), and the button that helps ([action], if any).
 */
data class Notice(val title: String, val detail: String, val tone: Tone, val action: NoticeAction? = null)

/** How a notice or status line should look: fine, in progress, or a problem. */
enum class Tone { Good, Neutral, Working, Problem }

/** What the button of a notice does; the Android layer turns each into an intent or a navigation. */
enum class NoticeAction(val label: String) {
    /** Show the system's Bluetooth permission prompt. */
    GrantPermission("Allow Bluetooth"),

    /** Open this app's page in system settings (permissions refused for good). */
    OpenAppSettings("Open app settings"),

    /** Ask the system to switch the Bluetooth radio on. */
    EnableBluetooth("Turn on Bluetooth"),

    /** Open the system's Location settings (Android 8–11 scans need Location on). */
    EnableLocation("Open Location settings"),

    /** Go to the Settings screen to pair a mat. */
    PairMat("Pair a mat"),
}
