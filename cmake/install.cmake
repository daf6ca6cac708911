# `cmake --install`: the libraries, their public headers (installed by each
# module), the `tqf` command, a CMake package (find_package(tqf CONFIG):
# tqf::tqf, tqf::runtime, tqf::eval, tqf::service) and tqf.pc for pkg-config.
include(CMakePackageConfigHelpers)

set(TQF_INSTALL_TARGETS tqf)
if(TQF_BUILD_RUNTIME)
  list(APPEND TQF_INSTALL_TARGETS tqf_runtime tqf_eval tqf_service)
endif()
install(TARGETS ${TQF_INSTALL_TARGETS}
  EXPORT tqfTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(TARGET tqf_cli)
  install(TARGETS tqf_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

set(TQF_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/tqf)
install(EXPORT tqfTargets NAMESPACE tqf:: DESTINATION ${TQF_CMAKE_DIR})
configure_package_config_file(cmake/tqfConfig.cmake.in
  ${PROJECT_BINARY_DIR}/tqfConfig.cmake INSTALL_DESTINATION ${TQF_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tqfConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tqfConfig.cmake ${PROJECT_BINARY_DIR}/tqfConfigVersion.cmake
  DESTINATION ${TQF_CMAKE_DIR})

# tqf.pc finds its prefix from its own location, so the tree is relocatable.
file(RELATIVE_PATH TQF_PC_TO_PREFIX /root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /root)
# libcurl is loaded at run time (dlopen) when remote reading is built in, so
# consumers of the static libtqf link libdl, not libcurl.
set(TQF_PC_REQUIRES "libzstd libxxhash")
set(TQF_PC_DL "")
if(TQF_WITH_HTTP AND CMAKE_DL_LIBS)
  set(TQF_PC_DL " -l${CMAKE_DL_LIBS}")
endif()
configure_file(cmake/tqf.pc.in ${PROJECT_BINARY_DIR}/tqf.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/tqf.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
