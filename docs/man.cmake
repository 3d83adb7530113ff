# Man pages: docs/*.1.md converted with go-md2man when it is installed.
find_program(GO_MD2MAN go-md2man)
if(GO_MD2MAN)
  file(GLOB MAN_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/docs/*.1.md)
  set(MAN_PAGES)
  foreach(src ${MAN_SOURCES})
    get_filename_component(name ${src} NAME_WLE) # bale-pull.1
    set(out ${CMAKE_CURRENT_BINARY_DIR}/man/${name})
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/man
      COMMAND ${GO_MD2MAN} -in ${src} -out ${out}
      DEPENDS ${src} VERBATIM)
    list(APPEND MAN_PAGES ${out})
  endforeach()
  add_custom_target(man ALL DEPENDS ${MAN_PAGES})
  install(FILES ${MAN_PAGES} DESTINATION share/man/man1)
endif()
