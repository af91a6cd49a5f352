process.env.TEST_DRIVER = 'sqlite';
