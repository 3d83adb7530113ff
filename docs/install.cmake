# What cmake --install puts beside the binary, and cpack -G DEB's package of it: one man
# page per verb (docs/man.cmake), bash and zsh completion made by the bale just built from
# its own option tables, and the documents.
set(COMPLETION_DIR ${CMAKE_CURRENT_BINARY_DIR}/completion)
add_custom_command(
  OUTPUT ${COMPLETION_DIR}/bale ${COMPLETION_DIR}/_bale
  COMMAND ${CMAKE_COMMAND} -E make_directory ${COMPLETION_DIR}
  COMMAND sh -c "\"$1\" completion bash > \"$2/bale\" && \"$1\" completion zsh > \"$2/_bale\""
          sh $<TARGET_FILE:bale> ${COMPLETION_DIR}
  DEPENDS bale VERBATIM)
add_custom_target(completion ALL DEPENDS ${COMPLETION_DIR}/bale ${COMPLETION_DIR}/_bale)
install(FILES ${COMPLETION_DIR}/bale DESTINATION share/bash-completion/completions)
install(FILES ${COMPLETION_DIR}/_bale DESTINATION share/zsh/vendor-completions)
file(GLOB DOC_FILES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/docs/*.md)
list(FILTER DOC_FILES EXCLUDE REGEX "\\.1\\.md$") # the man pages are installed as such
install(FILES ${DOC_FILES} README.md DESTINATION share/doc/bale)

set(CPACK_PACKAGE_NAME bale)
set(CPACK_PACKAGE_VENDOR "bale")
set(CPACK_PACKAGE_CONTACT "bale maintainers <bale@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "carry container images into air-gapped Kubernetes sites")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON) # Depends: from the libraries the binary links
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "containerd, skopeo")
include(CPack)
