from ptft.cli import main

raise SystemExit(main())
