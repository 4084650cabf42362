package io.hapticmat.app.domain

/**
 * The states the product tells apart (docs/design.md §2); [wireName] is the label name the core and the model use.
 */
enum class PresenceLabel(val wireName: String, val displayName: String) {
    Absent("absent", "Nobody"),
    Sitting("sitting", "Sitting"),
    LyingFull("lying_full", "Lying"),
    LyingPartial("lying_partial", "Partly lying"),
    ;

    /** True for every state with a person on the mat; a pet or an object counts as [Absent]. */
    val isPresent: Boolean get() = this != Absent

    companion object {
        /** The label with this core/model name, or null when the name is unknown (a newer model, say). */
        fun fromWireName(name: String): PresenceLabel? = entries.firstOrNull { it.wireName == name }
    }
}
