# kindred_add_plugin(NAME SOURCES...)
#
# Builds a Kindred plugin: a shared library NAME.so (no "lib" prefix) that
# exports only kindred_plugin_entry, linked against the header-only SDK.
# Copy it into HOME/plugins/ of a device, or pass it with
# `kindred --plugin PATH`.
function(kindred_add_plugin name)
  add_library(${name} MODULE ${ARGN})
  target_link_libraries(${name} PRIVATE Kindred::plugin_sdk)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
endfunction()
