from devstack.run import main

raise SystemExit(main())
